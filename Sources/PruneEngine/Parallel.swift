import Foundation
import Synchronization

/// Runs `body(0) ... body(iterations - 1)` on the calling thread and the engine's worker
/// threads, and returns when all have finished.
///
/// Kernels hand this closures that capture raw pointers, which Swift cannot prove safe to share;
/// every caller gives each iteration a disjoint part of the output, which is what makes it safe.
/// A call made while another is running (from inside a body, or from a second thread) runs its
/// iterations on the calling thread.
public func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
  if iterations <= 1 {
    if iterations == 1 { body(0) }
    return
  }
  withoutActuallyEscaping(body) { body in
    if !WorkerPool.shared.run(iterations: iterations, body) {
      for index in 0..<iterations { body(index) }
    }
  }
}

/// A fixed set of worker threads that spin briefly between jobs before sleeping.
///
/// Training issues a dozen parallel kernels per batch, each a few tens of microseconds long.
/// Waking a sleeping thread for each (as `DispatchQueue.concurrentPerform` does) costs about as
/// much as the work itself; a worker that keeps polling for a short while after its last job
/// picks the next one up within a microsecond.
final class WorkerPool: @unchecked Sendable {
  static let shared = WorkerPool(workerCount: max(0, System.coreCount - 1))

  /// How long a worker polls for the next job before it sleeps.
  private static let spinNanoseconds: UInt64 = 200_000

  private let workerCount: Int
  /// Bumped to publish a job; workers run a job once per change.
  private let generation = Atomic<Int>(0)
  /// Workers still running the current job.
  private let pending = Atomic<Int>(0)
  /// Next iteration to hand out.
  private let nextIteration = Atomic<Int>(0)
  /// Set while a job runs, so overlapping calls fall back to running serially.
  private let busy = Atomic<Bool>(false)
  private let slots: [WorkerSlot]
  // Written by the submitting thread before `generation` is bumped (release) and read by
  // workers after they observe the bump (acquire).
  private var job: ((Int) -> Void)?
  private var jobIterations = 0

  private init(workerCount: Int) {
    self.workerCount = workerCount
    slots = (0..<workerCount).map { _ in WorkerSlot() }
    for worker in 0..<workerCount {
      let thread = Thread { [unowned self] in self.workerLoop(worker) }
      thread.name = "shears-worker-\(worker)"
      thread.start()
    }
  }

  /// Runs a job across the calling thread and the workers. Returns false, having run nothing,
  /// when there are no workers or another job is running.
  func run(iterations: Int, _ body: @escaping (Int) -> Void) -> Bool {
    guard workerCount > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
      return false
    }
    job = body
    jobIterations = iterations
    nextIteration.store(0, ordering: .relaxed)
    pending.store(workerCount, ordering: .relaxed)
    generation.add(1, ordering: .sequentiallyConsistent)
    for slot in slots where slot.sleeping.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged {
      slot.wakeup.signal()
    }
    drain(body, iterations: iterations)
    waitForWorkers()
    job = nil
    busy.store(false, ordering: .releasing)
    return true
  }

  /// Waits until every worker has finished the job. A worker is normally a few microseconds
  /// behind; when it is much later, it was descheduled (another process wants the core), and
  /// spinning would keep the very core it needs, so after a short spin the wait yields.
  private func waitForWorkers() {
    var spins = 0
    while pending.load(ordering: .acquiring) > 0 {
      spins += 1
      if spins > Self.spinsBeforeYielding { sched_yield() }
    }
  }

  /// Polls of `pending` (a few microseconds) before the waiting submitter yields its core.
  private static let spinsBeforeYielding = 4_000

  /// Takes iterations one at a time until none are left.
  private func drain(_ body: (Int) -> Void, iterations: Int) {
    while true {
      let index = nextIteration.add(1, ordering: .relaxed).oldValue
      guard index < iterations else { return }
      body(index)
    }
  }

  private func workerLoop(_ worker: Int) {
    var seen = 0
    while true {
      let spinStart = DispatchTime.now().uptimeNanoseconds
      var current = generation.load(ordering: .acquiring)
      while current == seen {
        if DispatchTime.now().uptimeNanoseconds - spinStart > Self.spinNanoseconds {
          sleep(worker, seen: seen)
        }
        current = generation.load(ordering: .acquiring)
      }
      seen = current
      runCurrentJob()
      pending.subtract(1, ordering: .releasing)
    }
  }

  /// Runs the published job's iterations. Out of line so that the worker's reference to the
  /// closure is released before it reports the job finished: the submitter's closure must not
  /// outlive its call.
  @inline(never)
  private func runCurrentJob() {
    if let job { drain(job, iterations: jobIterations) }
  }

  /// Sleeps until the next job, unless one was published meanwhile.
  private func sleep(_ worker: Int, seen: Int) {
    let slot = slots[worker]
    slot.sleeping.store(true, ordering: .sequentiallyConsistent)
    if generation.load(ordering: .sequentiallyConsistent) != seen {
      // A job arrived: take the flag back, or, if the submitter already took it, absorb its signal.
      if slot.sleeping.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged {
        return
      }
    }
    slot.wakeup.wait()
  }
}

/// A worker's sleep flag and the semaphore that wakes it.
private final class WorkerSlot: Sendable {
  let sleeping = Atomic<Bool>(false)
  let wakeup = DispatchSemaphore(value: 0)
}
