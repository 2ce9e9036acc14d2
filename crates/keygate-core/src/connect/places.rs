//! Where each tool keeps its config, from the tool's own overrides (`CLAUDE_CONFIG_DIR`,
//! `CODEX_HOME`, `GEMINI_CLI_HOME`, `OPENCODE_CONFIG`, `CONTINUE_GLOBAL_DIR`, `XDG_CONFIG_HOME`,
//! `ZDOTDIR`) or its default under the home directory. The environment is passed in.

use std::path::{Path, PathBuf};

/// The config locations of every tool, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    pub claude_dir: PathBuf,
    pub codex_home: PathBuf,
    pub gemini_dir: PathBuf,
    pub opencode_file: PathBuf,
    pub aider_file: PathBuf,
    pub continue_dir: PathBuf,
    pub shell_profile: PathBuf,
}

impl Places {
    /// `env` reads a variable; a relative or empty override is ignored, as the tools do not
    /// resolve those either in any way KeyGate could match.
    pub fn resolve(home: &Path, env: impl Fn(&str) -> Option<String>) -> Places {
        let dir = |name: &str| {
            env(name)
                .map(PathBuf::from)
                .filter(|path| path.is_absolute())
        };
        let config = dir("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
        let shell = env("SHELL").unwrap_or_default();
        let shell_profile = if shell.ends_with("zsh") {
            dir("ZDOTDIR")
                .unwrap_or_else(|| home.to_path_buf())
                .join(".zshrc")
        } else {
            home.join(".bashrc")
        };
        Places {
            claude_dir: dir("CLAUDE_CONFIG_DIR").unwrap_or_else(|| home.join(".claude")),
            codex_home: dir("CODEX_HOME").unwrap_or_else(|| home.join(".codex")),
            gemini_dir: dir("GEMINI_CLI_HOME")
                .unwrap_or_else(|| home.to_path_buf())
                .join(".gemini"),
            opencode_file: dir("OPENCODE_CONFIG")
                .unwrap_or_else(|| config.join("opencode").join("opencode.json")),
            aider_file: home.join(".aider.conf.yml"),
            continue_dir: dir("CONTINUE_GLOBAL_DIR").unwrap_or_else(|| home.join(".continue")),
            shell_profile,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_s_own_override_wins_and_relative_ones_are_ignored() {
        let home = Path::new("/home/ada");
        let env = |name: &str| match name {
            "CLAUDE_CONFIG_DIR" => Some("/work/claude".to_string()),
            "CODEX_HOME" => Some("relative/codex".to_string()),
            "XDG_CONFIG_HOME" => Some("/xdg".to_string()),
            "SHELL" => Some("/usr/bin/zsh".to_string()),
            _ => None,
        };
        let places = Places::resolve(home, env);
        assert_eq!(places.claude_dir, Path::new("/work/claude"));
        assert_eq!(places.codex_home, Path::new("/home/ada/.codex"));
        assert_eq!(places.gemini_dir, Path::new("/home/ada/.gemini"));
        assert_eq!(
            places.opencode_file,
            Path::new("/xdg/opencode/opencode.json")
        );
        assert_eq!(places.continue_dir, Path::new("/home/ada/.continue"));
        assert_eq!(places.shell_profile, Path::new("/home/ada/.zshrc"));
        let bash = Places::resolve(home, |_| None);
        assert_eq!(bash.shell_profile, Path::new("/home/ada/.bashrc"));
        assert_eq!(
            bash.opencode_file,
            Path::new("/home/ada/.config/opencode/opencode.json")
        );
    }
}
