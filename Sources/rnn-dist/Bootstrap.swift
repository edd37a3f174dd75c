import Distributed
import Foundation
import MPI

/// What the libraries' background machinery does when it must end the job: the executable
/// decides how it is said and with which exit code.
enum Bootstrap {
    static func installActions() {
        CollectiveWatchdog.bootstrap(CollectiveWatchdog.Actions(notice: { message in
            FileHandle.standardError.write(Data("rnn-dist: \(message)\n".utf8))
        }, abortJob: { world, message in
            FileHandle.standardError.write(Data("rnn-dist: \(message)\n".utf8))
            world.abort(code: ExitStatus.code(for: .fault))
        }))
    }
}
