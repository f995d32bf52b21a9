"""The RunPod serverless worker (floor 3): `python -m wan22 worker` and the client side of
`python -m wan22 run`.

Owns the worker's job contract (`jobs`: typed Wan 2.2 jobs and stock worker-comfyui jobs, every
input checked), input files (`media`: base64 / data: / https:// -> bytes -> image, audio or video
under a content-hash name), turning a job into an API prompt from the pack's API twins (`build`),
the ComfyUI it drives (`comfy`: URL, child process, restarts), the boot readiness verdict
(`readiness`: the volume inventory as one table), the boot prefetch of the default workflow's
model files (`boot_prefetch`: WAN22_DEFAULT_WORKFLOW), running one prompt to its end (`runner`:
progress, time limit, a dead or hung ComfyUI), the response (`outputs`: base64 or the runpod SDK's
bucket upload), the handler and boot (`worker`), and the endpoint client (`remote`).

Imports api/ (the ComfyUI client and prompt edits), volume/, prefetch/ (the boot prefetch), plan/, audio/, catalog and errors;
`runpod` is imported only where the SDK is called (the `worker` extra), so everything else here
runs and is tested without it.
"""
