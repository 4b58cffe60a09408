/**
 * libc through `bun:ffi`, for the few calls Node and Bun do not offer (flock, a non-blocking recv
 * on a socket the runtime holds, syncfs on a thread of its own). Linux + glibc only: elsewhere, or
 * where libc.so.6 does not load, a binding is null and its caller keeps its fallback.
 */
import { dlopen, FFIType, read, type Library, type Pointer, type Symbols } from "bun:ffi";

const errnoSymbol = { __errno_location: { args: [], returns: FFIType.ptr } } as const;

/**
 * A binding made once per process on first use: `make` gets libc's `symbols` and a reader of
 * errno for the JavaScript thread (errno is per thread; the bindings run on that thread only, so
 * its address is fixed), and returns the binding or null. Null too off Linux or if loading throws.
 */
export function libcBinding<S extends Symbols, T>(symbols: S, make: (lib: Library<S>["symbols"], errno: () => number) => T | null): () => T | null {
  let made: T | null | undefined;
  return () => {
    if (made !== undefined) return made;
    made = null;
    if (process.platform !== "linux") return null;
    try {
      const lib = dlopen("libc.so.6", { ...symbols, ...errnoSymbol } as Symbols);
      const errnoAt = (lib.symbols.__errno_location as () => Pointer | null)();
      if (!errnoAt) return null;
      made = make(lib.symbols as unknown as Library<S>["symbols"], () => read.i32(errnoAt, 0));
    } catch {
      made = null;
    }
    return made;
  };
}
