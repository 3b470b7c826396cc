//! How the server stops: gracefully on SIGTERM and a first SIGINT, at once on a second
//! SIGINT or SIGQUIT.

/// Exit status of a forced stop (the shell's for SIGQUIT: 128 + 3).
const FORCED_EXIT: i32 = 131;

/// SIGTERM and a first SIGINT stop `server` gracefully; a second SIGINT or a SIGQUIT force
/// it. A signal that cannot be listened for is logged and left to its default action.
///
/// Forcing ends the process at once, with status 131: every request in flight is cut, and
/// what it left in staging is removed by the next start. (Stopping the actix system did
/// not stop the server: its workers were restarted and it kept serving; and the server's
/// own stop command waits for a graceful stop already under way.)
pub(super) fn stop_on_signals(server: actix_web::dev::ServerHandle) {
    let force = || {
        tracing::warn!("stopping at once: requests in flight are cut");
        std::process::exit(FORCED_EXIT);
    };
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {name}");
            None
        }
    };
    if let Some(mut term) = listen(SignalKind::terminate(), "SIGTERM") {
        let server = server.clone();
        actix_web::rt::spawn(async move {
            if term.recv().await.is_some() {
                tracing::info!("SIGTERM: stopping gracefully");
                // The command is sent now; the returned future only waits for the end.
                drop(server.stop(true));
            }
        });
    }
    if let Some(mut int) = listen(SignalKind::interrupt(), "SIGINT") {
        let server = server.clone();
        actix_web::rt::spawn(async move {
            if int.recv().await.is_some() {
                tracing::info!("SIGINT: stopping gracefully (press Ctrl-C again to stop at once)");
                drop(server.stop(true));
            }
            if int.recv().await.is_some() {
                tracing::warn!("second SIGINT");
                force();
            }
        });
    }
    if let Some(mut quit) = listen(SignalKind::quit(), "SIGQUIT") {
        actix_web::rt::spawn(async move {
            if quit.recv().await.is_some() {
                tracing::warn!("SIGQUIT");
                force();
            }
        });
    }
}
