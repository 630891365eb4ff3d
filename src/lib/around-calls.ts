/** The names of T's methods that answer a promise. */
export type AsyncMethodName<T> = { [K in keyof T]-?: T[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof T];

/** T's promise-answering methods, and nothing else. */
export type AsyncMethods<T> = Pick<T, AsyncMethodName<T>>;

/**
 * A label for each promise-answering method of T, or null to pass it through untouched. Every such
 * method must be named: one added to T later does not compile until it is labelled here.
 */
export type CallLabels<T> = { readonly [K in AsyncMethodName<T>]: string | null };

/** What runs around one call: `label` is the method's label, `call` the call itself. */
export type AroundCall = <R>(label: string, call: () => Promise<R>) => Promise<R>;

/**
 * A decorator without a hand-written forwarder per method: every promise-answering method of
 * `target`, each run through `around` under its label (or passed straight through when labelled
 * null), called on `target` itself. Other members (plain properties) are not copied: spread them
 * in beside it when the decorated object needs them.
 */
export function aroundCalls<T extends object>(target: T, labels: CallLabels<T>, around: AroundCall): AsyncMethods<T> {
  const wrapped: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, label] of Object.entries<string | null>(labels)) {
    const method: unknown = Reflect.get(target, name);
    if (typeof method !== "function") throw new TypeError(`aroundCalls: ${name} is not a method`);
    const call = (args: unknown[]): Promise<unknown> => Reflect.apply(method, target, args);
    wrapped[name] = label === null ? (...args) => call(args) : (...args) => around(label, () => call(args));
  }
  // `labels` names every promise-answering method of T (CallLabels), each now wrapped with its signature.
  return wrapped as AsyncMethods<T>;
}
