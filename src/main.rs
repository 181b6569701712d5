//! The `stereosplat` binary: parses the command line and reports errors; the work is in
//! the library (see src/lib.rs).

use std::process::ExitCode;

use stereosplat::cli::Cli;
use stereosplat::control::{Cancel, Stopped};

fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    private_runtime_dir();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    // wgpu and naga are chatty at info; keep their warnings.
    env_logger::Builder::from_env(
        env_logger::Env::default()
            .default_filter_or(format!("{level},wgpu_core=warn,wgpu_hal=warn,naga=warn")),
    )
    .format_timestamp(None)
    .format_target(false)
    .init();

    // Over a file-size limit (ulimit -f, quotas) the kernel would kill us mid-write with
    // SIGXFSZ, leaving the temporary file behind. Ignored, the write fails with EFBIG and
    // the encoder cleans up and reports it like a full disk.
    // SAFETY: setting a signal to SIG_IGN at start-up, before any thread exists.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let cancel = Cancel::default();
    install_ctrl_c(&cancel);
    match stereosplat::cli::run::run(cli, &matches, &cancel) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Stopped>().is_some() || cancel.is_interrupted() => {
            eprintln!("{e:#}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// First Ctrl-C: finish the frame in hand, close the file properly and keep it as
/// `<name>.partial.<ext>`. Second: remove what is being written and stop at once.
fn install_ctrl_c(cancel: &Cancel) {
    let cancel = cancel.clone();
    let result = ctrlc::set_handler(move || {
        if cancel.is_interrupted() {
            for tmp in stereosplat::fsutil::live_temp_files()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
            {
                let _ = std::fs::remove_file(tmp);
            }
            eprintln!("\nstopped; the unfinished output was removed");
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping after the current frame and keeping what is done (Ctrl-C again to stop at once)"
        );
        cancel.interrupt();
    });
    if let Err(e) = result {
        log::warn!("Ctrl-C will stop the program without keeping partial output: {e}");
    }
}

/// Vulkan's window-system layer complains on every start when XDG_RUNTIME_DIR is unset
/// (headless servers, CI); give it a private directory instead.
fn private_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("stereosplat-runtime-{}", current_uid()));
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok()
    {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}
