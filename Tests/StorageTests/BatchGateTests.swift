import Storage
import Testing

/// The batching rule on its own: no threads, no clock.
@Suite struct BatchGateTests {
    /// The gate in a box, so that `#expect` can call its mutating methods.
    final class Gate {
        var gate: BatchGate<Int>
        init(limit: Int = 1, maxBatch: Int = .max) { gate = BatchGate(limit: limit, maxBatch: maxBatch) }
        func add(_ n: Int) -> Bool { gate.add(n) }
        func add(contentsOf ns: [Int]) -> Bool { gate.add(contentsOf: ns) }
        func take() -> [Int]? { gate.take() }
        func dropWaiting() { gate.dropWaiting() }
        var isIdle: Bool { gate.isIdle }
        var runners: Int { gate.runners }
    }

    @Test func aLoneRequestStartsARunnerAndGoesAlone() {
        let gate = Gate()
        #expect(gate.add(1))
        #expect(gate.take() == [1])
        #expect(gate.take() == nil)
        #expect(gate.isIdle)
    }

    @Test func requestsThatCameWhileABatchRanMakeTheNextBatchTogether() {
        let gate = Gate()
        #expect(gate.add(1))
        #expect(gate.take() == [1])
        // While batch [1] runs: no second runner, the requests wait.
        #expect(!gate.add(2))
        #expect(!gate.add(3))
        #expect(!gate.add(4))
        #expect(gate.take() == [2, 3, 4])
        #expect(gate.take() == nil)
        // The runner stopped: the next request starts one again.
        #expect(gate.add(5))
        #expect(gate.take() == [5])
    }

    @Test func whatCameBeforeTheRunnerTookItsFirstBatchGoesWithIt() {
        let gate = Gate()
        #expect(gate.add(1))
        #expect(!gate.add(2))
        #expect(gate.take() == [1, 2])
    }

    @Test func atMostLimitRunnersAndMaxBatchRequestsEach() {
        let gate = Gate(limit: 2, maxBatch: 3)
        #expect(gate.add(1))
        #expect(gate.add(2))
        #expect(!gate.add(3), "a third runner is over the limit")
        for n in 4...8 { #expect(!gate.add(n)) }
        #expect(gate.runners == 2)
        #expect(gate.take() == [1, 2, 3])
        #expect(gate.take() == [4, 5, 6])
        #expect(gate.take() == [7, 8])
        #expect(gate.take() == nil)
        #expect(gate.runners == 1)
        #expect(gate.take() == nil)
        #expect(gate.isIdle)
    }

    @Test func severalAddedAtOnceMayShareABatch() {
        let gate = Gate()
        #expect(!gate.add(contentsOf: []), "nothing to run")
        #expect(gate.add(contentsOf: [1, 2, 3]))
        #expect(gate.take() == [1, 2, 3])
    }

    @Test func droppedRequestsAreNotTakenAndTheRunnerStops() {
        let gate = Gate()
        #expect(gate.add(1))
        #expect(gate.take() == [1])
        #expect(!gate.add(2))
        gate.dropWaiting()
        #expect(!gate.isIdle, "batch [1] still runs")
        #expect(gate.take() == nil)
        #expect(gate.isIdle)
    }
}
