// Short-lived messages in the corner. Errors show the engine's own message.

export interface Toast {
  id: number;
  kind: 'error' | 'info' | 'success';
  message: string;
}

const LIFETIME_MS: Record<Toast['kind'], number> = { error: 10_000, info: 4_000, success: 3_000 };

class Toasts {
  items = $state<Toast[]>([]);
  private nextId = 1;

  show(kind: Toast['kind'], message: string): void {
    // A failing background refresh must not pile up the same message again and again.
    if (this.items.some((t) => t.kind === kind && t.message === message)) return;
    const id = this.nextId++;
    this.items = [...this.items, { id, kind, message }];
    window.setTimeout(() => this.dismiss(id), LIFETIME_MS[kind]);
  }

  error(message: string): void {
    this.show('error', message);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();
