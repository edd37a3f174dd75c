// The tests that run StackedBPTTWorkspace<Double> (exact references for carried state) need the
// Double step, which lives with the tests.
import RNNReference
