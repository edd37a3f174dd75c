import Distributed
import Foundation
import MPI

/// What the libraries' background machinery does when it must end the job: the executable
/// decides how it is said and with which exit code.
enum Bootstrap {
    static func installActions() {
        CollectiveWatchdog.bootstrap(CollectiveWatchdog.Actions(notice: { message in
            StandardError.line(message)
        }, abortJob: { world, message in
            StandardError.line(message)
            world.abort(code: ExitStatus.code(for: .fault))
        }))
    }
}
