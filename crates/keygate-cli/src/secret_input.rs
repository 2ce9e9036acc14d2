//! Reading a secret from the terminal (without echo) or from piped standard input.

use std::io::{IsTerminal, Read};

use anyhow::{Context as _, Result, bail};
use keygate_vault::Sensitive;

/// Reads one secret: prompts without echo on a terminal, else reads all of stdin.
/// Surrounding whitespace (the trailing newline of `echo`) is removed; inner whitespace is an
/// error, since no API key contains it and it usually means two keys were pasted.
pub fn read_secret(prompt: &str) -> Result<Sensitive<String>> {
    let stdin = std::io::stdin();
    let raw = if stdin.is_terminal() {
        Sensitive::new(
            rpassword::prompt_password(prompt)
                .context("cannot read the secret from the terminal")?,
        )
    } else {
        let mut text = String::new();
        stdin
            .lock()
            .take(64 * 1024)
            .read_to_string(&mut text)
            .context("cannot read the secret from standard input (it must be UTF-8 text)")?;
        Sensitive::new(text)
    };
    let trimmed = Sensitive::new(raw.expose().trim().to_string());
    if trimmed.is_empty() {
        bail!(
            "no secret given: pipe it on standard input (e.g. `printf %s \"$KEY\" | keygate key add …`), type it at the prompt, or use --secret-env VAR"
        );
    }
    if trimmed.expose().chars().any(char::is_whitespace) {
        bail!("the secret contains whitespace; give exactly one key");
    }
    Ok(trimmed)
}
