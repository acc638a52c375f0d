//! Ctrl-C during a long operation: the first asks the operation to stop at its next safe
//! point (a backup then commits nothing), a second exits at once (130), as `kubectl` and
//! `restic` behave.

/// A cancellation given on the first Ctrl-C from now on.
pub fn cancel_on_ctrl_c() -> ward_vault::Cancel {
    let cancel = ward_vault::Cancel::new();
    let given = cancel.clone();
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                crate::report::warn(
                    "interrupted: stopping before anything is committed (Ctrl-C again to quit now)",
                );
                given.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            });
        });
    if spawned.is_err() {
        crate::report::warn(
            "cannot watch for Ctrl-C; an interrupt stops the backup abruptly (nothing is committed then either)",
        );
    }
    cancel
}
