// One-click key tests and their results, kept per key while the app is open so a result is
// still there after a visit to another page.

import { batchKeys, testKey, testProvider, type TestReport } from './api';
import { engine } from './engine.svelte';
import { toasts } from './toasts.svelte';

export type TestRun = { status: 'running' } | { status: 'done'; report: TestReport };

class KeyTests {
  runs = $state<Record<string, TestRun>>({});

  isRunning(id: string): boolean {
    return this.runs[id]?.status === 'running';
  }

  async testOne(id: string): Promise<void> {
    if (this.isRunning(id)) return;
    const before = this.runs[id];
    this.runs[id] = { status: 'running' };
    try {
      this.record(await testKey(id));
    } catch (error) {
      this.restore(id, before);
      toasts.error(messageOf(error));
    }
  }

  /** Tests the keys together; each row shows its own result. */
  async testMany(ids: string[]): Promise<void> {
    const todo = ids.filter((id) => !this.isRunning(id));
    if (todo.length === 0) return;
    const before = Object.fromEntries(todo.map((id) => [id, this.runs[id]]));
    for (const id of todo) this.runs[id] = { status: 'running' };
    try {
      const result = await batchKeys(todo, 'test');
      if (result.action !== 'test') throw new Error('The engine answered a batch test with something else.');
      for (const report of result.results) this.record(report);
      // A key the engine left out of the answer shows what it showed before.
      for (const id of todo) if (this.isRunning(id)) this.restore(id, before[id]);
    } catch (error) {
      for (const id of todo) this.restore(id, before[id]);
      toasts.error(messageOf(error));
    }
  }

  /** Tests every key of a provider; each key's row (here and on Keys) shows its result. */
  async testProvider(name: string, ids: string[]): Promise<TestReport[]> {
    const before = Object.fromEntries(ids.map((id) => [id, this.runs[id]]));
    for (const id of ids) this.runs[id] = { status: 'running' };
    try {
      const { results } = await testProvider(name);
      for (const report of results) this.record(report);
      for (const id of ids) if (this.isRunning(id)) this.restore(id, before[id]);
      return results;
    } catch (error) {
      for (const id of ids) this.restore(id, before[id]);
      throw error;
    }
  }

  /** Drops results that no longer describe the key (after a reset or delete). */
  forget(ids: string[]): void {
    for (const id of ids) delete this.runs[id];
  }

  private record(report: TestReport): void {
    this.runs[report.key_id] = { status: 'done', report };
    engine.setKeyHealth(report.key_id, report.state, report.reason);
    // Brings the saved health details (last error, checked at) a moment later.
    engine.refreshSoon();
  }

  private restore(id: string, run: TestRun | undefined): void {
    if (run) this.runs[id] = run;
    else delete this.runs[id];
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export const keyTests = new KeyTests();
