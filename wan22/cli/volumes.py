"""`python -m wan22 demo-volume` and `sparse-volume`: write stand-in volumes for demos, tests and benchmarks."""

from __future__ import annotations

import argparse
import json


def cmd_demo_volume(a: argparse.Namespace) -> int:
    from ..demo.demo_volume import make_demo_volume

    info = make_demo_volume(a.dir, seed=a.seed, with_t2v=a.with_t2v, with_5b=a.with_5b,
                            with_animate2=a.with_animate2, community_names=a.community_names, gguf=a.gguf)
    if a.json:
        print(json.dumps(info, indent=2))
    else:
        files = info["files"]
        assert isinstance(files, list)
        for f in files:
            print(f"{f['size']:>12,}  {f['path']}")
        print(f"{len(files)} stand-ins + conditioning datasets, {info['bytes']:,} bytes in {info['seconds']} s under {info['root']}")
        print("Add it to ComfyUI with an extra_model_paths.yaml section whose base_path is this folder, "
              "or run `python -m wan22 inventory --root` on it.")
    return 0


def cmd_sparse_volume(a: argparse.Namespace) -> int:
    from ..demo.demo_volume import make_sparse_volume

    info = make_sparse_volume(a.dir)
    print(json.dumps(info, indent=2) if a.json else f"sparse volume at {info['root']}: {info['apparent_bytes']:,} apparent bytes")
    return 0


def _help_at_19(prog: str) -> argparse.HelpFormatter:
    """demo-volume's help column stays where it was before the longer --community-names flag
    (the help text is a snapshot contract: lines may be added, not re-wrapped)."""
    return argparse.HelpFormatter(prog, max_help_position=19)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("demo-volume", help="write tiny random-weight stand-ins under the real file names",
                       formatter_class=_help_at_19)
    s.add_argument("dir")
    s.add_argument("--seed", type=int, default=22)
    s.add_argument("--with-t2v", action="store_true", help="also the T2V experts and T2V low-noise LoRA")
    s.add_argument("--with-5b", action="store_true",
                   help="also the TI2V 5B model (tiny) and the Wan 2.2 VAE (real layout, sparse: 1.3 GiB apparent, "
                        "no data on disk), for workflow ti2v")
    s.add_argument("--with-animate2", action="store_true",
                   help="also both Wan Animate 2 models (tiny, int8 convrot) and the bf16 Wan 2.1 VAE, for "
                        "workflows animate2 and animate2_distilled")
    s.add_argument("--community-names", action="store_true",
                   help="also files under the names community workflows use: Kijai-named I2V experts (fp8 scaled), "
                        "Wan2_1_VAE_bf16, umt5-xxl-enc-bf16 (WanVideoWrapper layout, sparse) and the Seko 4-step "
                        "LoRAs as <Seko folder>/high_noise_model.safetensors and low_noise_model.safetensors")
    s.add_argument("--gguf", action="store_true",
                   help="also city96-named GGUF experts (I2V and T2V, high and low, Q5_K_M) and a umT5 GGUF, "
                        "with real headers and no data on disk (sparse, about 10 GB apparent each)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_demo_volume)
    s = sub.add_parser("sparse-volume", help="real-size sparse files with real headers (for benchmarks)")
    s.add_argument("dir")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sparse_volume)
