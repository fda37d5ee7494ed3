import Dispatch

/// Runs `body(0) ... body(iterations - 1)` concurrently on the system's worker threads and
/// returns when all have finished.
///
/// Kernels hand this closures that capture raw pointers, which Swift cannot prove safe to share;
/// every caller gives each iteration a disjoint part of the output, which is what makes it safe.
@inlinable
public func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
  if iterations == 1 {
    body(0)
    return
  }
  withoutActuallyEscaping(body) { body in
    nonisolated(unsafe) let body = body
    DispatchQueue.concurrentPerform(iterations: iterations) { body($0) }
  }
}
