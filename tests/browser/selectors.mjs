// Selectors shared by the browser drivers that hold on the frontend ComfyUI pins (1.49) and the
// newest one (1.58): the frontend's data-testid first, the older class as the fallback.

/** Our sidebar tab's button (1.58: data-testid="<tab id>-tab-button"; 1.49: class "<tab id>-tab-button"). */
export const TAB_BUTTON = '[data-testid="wan22-inventory-tab-button"], .wan22-inventory-tab-button';

/** A toast message (1.58: data-testid="toast"; 1.49: PrimeVue's .p-toast-message). */
export const TOAST = '[data-testid="toast"], .p-toast-message';
