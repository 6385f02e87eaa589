//! SIGPIPE for command-line tools. The only unsafe code of this crate.

/// For command-line tools (`ibft`, `aoectl`), at the start of `main`: a
/// write to a closed pipe (`ibft dump FILE | head -1`) ends the process
/// quietly, as it ends `cat` (status 141 in a shell), instead of
/// `println!` panicking with "failed printing to stdout: Broken pipe" and
/// status 101.
///
/// Not for daemons: they keep SIGPIPE ignored (Rust's default), so that a
/// client closing its connection or a log reader going away is an error
/// to handle (EPIPE), not the end of the server.
pub fn die_quietly_on_closed_pipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler function, so nothing runs in
    // signal context and no async-signal-safety rule can be broken; it
    // only undoes the SIG_IGN that Rust's runtime set before `main`. The
    // previous disposition returned is not a handler we call.
    #[allow(unsafe_code)]
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
