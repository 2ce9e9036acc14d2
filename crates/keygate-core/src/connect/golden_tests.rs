//! Golden files for `keygate connect`: for every tool, an empty home, a realistic config and a
//! config pointing elsewhere (`golden/TOOL/CASE/`), connected and undone through the pure merge.
//! `UPDATE_GOLDEN=1 cargo test -p keygate-core connect::golden` rewrites the expected files
//! (`golden/TOOL/CASE.applied/`); read their diff before committing it.

use std::path::{Path, PathBuf};

use super::{
    ConnectError, Connection, Entry, Format, Places, Reverted, Tool, ToolFile, apply,
    entry_digests, files_for, text_digest, undo,
};

const HOME: &str = "/home/user";
const TOKEN: &str = "kg-golden00000000000000000000000000";

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/connect/golden")
}

fn files(tool: Tool) -> Vec<ToolFile> {
    let models = ["smart".to_string(), "fast".to_string()];
    let conn = Connection {
        origin: "http://127.0.0.1:5397",
        token: TOKEN,
        model: None,
        models: &models,
    };
    files_for(tool, &Places::resolve(Path::new(HOME), |_| None), &conn)
}

fn relative(file: &ToolFile) -> PathBuf {
    file.path
        .strip_prefix(HOME)
        .expect("under HOME")
        .to_path_buf()
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Connects every file of `tool` from `case` (or an empty home) and checks the result against
/// its golden file, that connecting again changes nothing, and that undo gives back the input.
fn check_case(tool: Tool, case: Option<&str>) {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for file in files(tool) {
        let rel = relative(&file);
        let input = case.and_then(|case| read(&golden().join(tool.id()).join(case).join(&rel)));
        let expected_path = golden()
            .join(tool.id())
            .join(format!("{}.applied", case.unwrap_or("empty")))
            .join(&rel);
        let applied = apply(&file, input.as_deref())
            .unwrap_or_else(|e| panic!("{} {case:?} {}: {e}", tool.id(), rel.display()));
        if update {
            std::fs::create_dir_all(expected_path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&expected_path, &applied.text).expect("write golden");
        } else {
            let expected = read(&expected_path)
                .unwrap_or_else(|| panic!("no golden file {}", expected_path.display()));
            assert_eq!(
                applied.text,
                expected,
                "{} {case:?} {}",
                tool.id(),
                rel.display()
            );
        }
        assert!(applied.changed, "{} {case:?}: nothing changed", tool.id());

        let again = apply(&file, Some(&applied.text)).expect("apply twice");
        assert!(
            !again.changed,
            "{} {case:?}: the second connect changed the file",
            tool.id()
        );
        assert_eq!(again.text, applied.text);

        let reverted = undo(
            &file,
            Some(&applied.text),
            input.as_deref(),
            &text_digest(&applied.text),
            &entry_digests(&file.entries),
        )
        .expect("undo");
        match &input {
            Some(original) => assert_eq!(reverted, Reverted::Write(original.clone())),
            None => assert_eq!(reverted, Reverted::Remove),
        }
    }
}

#[test]
fn every_tool_connects_an_empty_home_a_realistic_config_and_one_pointing_elsewhere() {
    for tool in Tool::ALL {
        for case in [None, Some("existing"), Some("elsewhere")] {
            check_case(tool, case);
        }
    }
}

#[test]
fn only_the_tool_s_own_token_and_keygate_s_address_are_written() {
    for tool in Tool::ALL {
        let files = files(tool);
        let all: String = files
            .iter()
            .map(|file| apply(file, None).expect("apply").text)
            .collect();
        assert!(all.contains(TOKEN), "{}: no token written", tool.id());
        assert!(all.contains("http://127.0.0.1:5397"), "{}", tool.id());
        // Nothing that looks like a provider secret: every kg- token in the text is this one.
        for (at, _) in all.match_indices("kg-") {
            assert!(
                all[at..].starts_with(TOKEN),
                "{}: another token at {at}",
                tool.id()
            );
        }
    }
}

/// A setting of the user's own, of the file's format, added after KeyGate connected.
fn user_edit(file: &ToolFile) -> ToolFile {
    let key = match file.format {
        Format::Json => "userAdded",
        Format::Toml => "user_added",
        Format::Yaml => "user-added",
        Format::Dotenv | Format::Shell => "USER_ADDED",
    };
    ToolFile {
        entries: vec![Entry::set(&[key], "yes")],
        skeleton: None,
        ..file.clone()
    }
}

#[test]
fn undo_after_the_user_changed_something_else_keeps_their_change_and_removes_keygate_s() {
    for tool in Tool::ALL.into_iter().filter(|t| *t != Tool::Shell) {
        for file in files(tool) {
            let rel = relative(&file);
            let original = read(&golden().join(tool.id()).join("existing").join(&rel));
            let connected = apply(&file, original.as_deref()).expect("connect").text;
            let edit = user_edit(&file);
            let edited = apply(&edit, Some(&connected))
                .expect("the user's edit")
                .text;
            let Reverted::Write(undone) = undo(
                &file,
                Some(&edited),
                original.as_deref(),
                &text_digest(&connected),
                &entry_digests(&file.entries),
            )
            .unwrap_or_else(|e| panic!("{} {}: {e}", tool.id(), rel.display())) else {
                panic!("{} {}: undo did not write", tool.id(), rel.display());
            };
            // The user's edit on the original: what undo must come back to.
            let wanted = apply(&edit, original.as_deref())
                .expect("edit the original")
                .text;
            assert_eq!(undone, wanted, "{} {}", tool.id(), rel.display());
        }
    }
}

#[test]
fn undo_refuses_when_the_user_changed_a_setting_keygate_wrote() {
    for tool in Tool::ALL {
        let file = files(tool).remove(0);
        let connected = apply(&file, None).expect("connect").text;
        let mut theirs = file.clone();
        theirs.entries.truncate(1);
        let elsewhere = "https://somewhere-else.example.com";
        theirs.entries[0].value = Some(match theirs.entries[0].value.take() {
            // Continue's model item: its address changed.
            Some(serde_json::Value::Object(mut item)) => {
                item.insert("apiBase".into(), elsewhere.into());
                item.into()
            }
            _ => elsewhere.into(),
        });
        let edited = apply(&theirs, Some(&connected))
            .expect("the user's edit")
            .text;
        let result = undo(
            &file,
            Some(&edited),
            None,
            &text_digest(&connected),
            &entry_digests(&file.entries),
        );
        let Err(ConnectError::Conflict { path, .. }) = &result else {
            panic!("{}: {result:?}", tool.id());
        };
        assert_eq!(path, &file.entries[0].path_text());
    }
}

#[test]
fn a_malformed_file_is_refused_with_a_clear_error() {
    let broken = [
        (Format::Json, "{ \"env\": { \"A\": 1 "),
        (Format::Toml, "model = \n[x"),
        (Format::Yaml, "models: [\n  - name"),
        (Format::Shell, "# >>> keygate >>>\nexport A=1\n"),
    ];
    for (format, text) in broken {
        let file = ToolFile {
            path: PathBuf::from("/home/user/tool.conf"),
            format,
            entries: vec![Entry::set(&["A"], "b")],
            skeleton: None,
        };
        let error = apply(&file, Some(text)).expect_err("malformed");
        assert!(
            matches!(error, ConnectError::Malformed { .. }),
            "{format:?}: {error}"
        );
        assert!(
            error.to_string().contains("/home/user/tool.conf"),
            "{error}"
        );
    }
    // A setting KeyGate needs as an object that is something else.
    let claude = files(Tool::ClaudeCode).remove(0);
    let error = apply(&claude, Some("{\"env\": \"not an object\"}\n")).expect_err("shape");
    assert!(error.to_string().contains("env is a string"), "{error}");
}
