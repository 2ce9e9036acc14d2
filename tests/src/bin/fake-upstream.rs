//! The fake OpenAI-style provider as a process, for client tests outside Rust (the Python SDK
//! test): `fake-upstream KEY=BEHAVIOUR ...` where BEHAVIOUR is `ok`, `400`, `401`, `429`, `503` (any
//! 5xx), `cutN` (stream cut after N events), `long` (a 60-piece answer), `longcutN` /
//! `longstallN` (that answer cut or stalled after N pieces) or `noprefill` (the long answer,
//! but 400 for a request ending with an assistant message). Prints
//! `FAKE_UPSTREAM_URL=http://127.0.0.1:PORT/v1` once it listens, then serves until stdin
//! closes or SIGTERM/SIGINT.

use std::io::{Read, Write};
use std::process::ExitCode;

use keygate_tests::fake_upstream::{Behaviour, FakeUpstream};

fn parse(spec: &str) -> Result<(String, Behaviour), String> {
    let (key, behaviour) = spec
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=BEHAVIOUR, got {spec:?}"))?;
    let behaviour = match behaviour {
        "ok" => Behaviour::Ok,
        "400" => Behaviour::BadRequest,
        "401" => Behaviour::Unauthorized,
        "429" => Behaviour::RateLimited {
            retry_after_secs: 60,
        },
        "long" => Behaviour::Long,
        "noprefill" => Behaviour::RejectsPrefill,
        other => {
            let count = |n: &str| n.parse().map_err(|_| format!("bad count in {spec:?}"));
            if let Some(n) = other.strip_prefix("longcut") {
                Behaviour::LongCutAfter(count(n)?)
            } else if let Some(n) = other.strip_prefix("longstall") {
                Behaviour::LongStallAfter(count(n)?)
            } else if let Some(n) = other.strip_prefix("cut") {
                Behaviour::CutAfter(
                    n.parse()
                        .map_err(|_| format!("bad cut count in {spec:?}"))?,
                )
            } else if let Ok(status @ 500..=599) = other.parse::<u16>() {
                Behaviour::ServerError(status)
            } else {
                return Err(format!(
                    "unknown behaviour {other:?} (ok, 400, 401, 429, 5xx, cutN, long, longcutN, longstallN, noprefill)"
                ));
            }
        }
    };
    Ok((key.to_string(), behaviour))
}

fn main() -> ExitCode {
    let specs: Result<Vec<_>, _> = std::env::args().skip(1).map(|s| parse(&s)).collect();
    let specs = match specs {
        Ok(specs) => specs,
        Err(e) => {
            eprintln!(
                "fake-upstream: {e}\nusage: fake-upstream KEY=ok|400|401|429|5xx|cutN|long|longcutN|longstallN|noprefill ..."
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fake-upstream: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let fake = FakeUpstream::start().await;
        for (key, behaviour) in specs {
            fake.set(&key, behaviour);
        }
        let mut stdout = std::io::stdout();
        let printed =
            writeln!(stdout, "FAKE_UPSTREAM_URL={}", fake.base_url()).and_then(|()| stdout.flush());
        if let Err(e) = printed {
            eprintln!("fake-upstream: cannot write to stdout: {e}");
            return ExitCode::FAILURE;
        }

        // stdin closing (the parent went away) ends the fake, as do SIGTERM and Ctrl-C.
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = closed_tx.send(());
        });
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    term.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = closed_rx => {}
            () = term => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        ExitCode::SUCCESS
    })
}
