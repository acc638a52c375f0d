//! The deploy tree on disk and its record (`ward-tree.json`): Ward removes only files the
//! record lists, never writes over or through a file it did not write without being told
//! to (`adopt`), refuses folders it must not write into, and plans read recorded files only.

mod common;

use std::path::Path;
use ward_render::RenderError;
use ward_render::tree::{Provenance, RECORD_FILE, Tree, TreeFile, TreeRecord, WriteOptions};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn example_tree() -> Result<Tree> {
    Ok(ward_render::render(
        &common::example(),
        ward_render::Target::Kubernetes,
    )?)
}

fn small_tree(files: &[(&str, &str)]) -> Tree {
    let mut tree = Tree::default();
    for (path, text) in files {
        tree.files.insert(
            (*path).to_string(),
            TreeFile {
                text: (*text).to_string(),
                object: None,
                value: None,
            },
        );
    }
    tree
}

fn write(path: &Path, text: &str) -> Result {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

const NOTES: &str = "c/ns/notes.yaml";

#[test]
fn an_output_folder_in_the_estate_is_refused_before_anything_is_written() -> Result {
    let estate = tempfile::tempdir()?;
    write(&estate.path().join("teams/a.yaml"), "kind: Team\n")?;
    let provenance = Provenance {
        estate_root: Some(estate.path().to_path_buf()),
        ..Provenance::default()
    };
    let tree = small_tree(&[("c/ns/a.yaml", "a: 1\n")]);
    for out in [
        estate.path().to_path_buf(),
        estate.path().join("deploy"),
        estate.path().join("teams/../deploy/new/deeper"),
    ] {
        for dry_run in [false, true] {
            let options = WriteOptions {
                dry_run,
                adopt: true,
            };
            let result = tree.sync(&out, &provenance, options);
            assert!(
                matches!(result, Err(RenderError::InsideEstate { .. })),
                "{}: {result:?}",
                out.display()
            );
        }
    }
    assert!(!estate.path().join("deploy").exists());
    assert!(!estate.path().join(RECORD_FILE).exists());
    assert!(estate.path().join("teams/a.yaml").is_file());
    Ok(())
}

#[test]
fn without_a_record_only_top_level_manifests_count_beside_a_readme() -> Result {
    let tree = small_tree(&[("c/ns/a.yaml", "a: 1\n")]);
    let provenance = Provenance::default();
    let clone = tempfile::tempdir()?;
    for name in ["README.md", "LICENSE", "Makefile", ".gitlab-ci.yml"] {
        write(&clone.path().join(name), "x\n")?;
    }
    tree.write(clone.path(), &provenance)?;
    assert!(clone.path().join("c/ns/a.yaml").is_file());

    let other = tempfile::tempdir()?;
    write(&other.path().join("README.md"), "x\n")?;
    write(&other.path().join("Notes.YML"), "x: 1\n")?;
    let refused = tree.write(other.path(), &provenance);
    match refused {
        Err(RenderError::NotATree { paths, .. }) => assert_eq!(paths, ["Notes.YML"]),
        other => panic!("{other:?}"),
    }
    assert!(!other.path().join("c").exists());
    Ok(())
}

#[test]
fn without_a_record_a_folder_with_files_is_refused_unless_adopted() -> Result {
    let dir = tempfile::tempdir()?;
    write(&dir.path().join(NOTES), "mine\n")?;
    let tree = small_tree(&[("c/ns/a.yaml", "a: 1\n")]);
    let provenance = Provenance::default();
    let refused = tree.write(dir.path(), &provenance);
    assert!(
        matches!(refused, Err(RenderError::NotATree { .. })),
        "{refused:?}"
    );
    assert!(!dir.path().join("c/ns/a.yaml").exists());
    let options = WriteOptions {
        dry_run: false,
        adopt: true,
    };
    let adopted = tree.sync(dir.path(), &provenance, options)?;
    assert_eq!(adopted.written, ["c/ns/a.yaml"]);
    assert_eq!(adopted.kept, [NOTES]);
    assert_eq!(std::fs::read_to_string(dir.path().join(NOTES))?, "mine\n");
    Ok(())
}

#[test]
fn a_file_ward_did_not_write_is_never_written_over_without_adopt() -> Result {
    let dir = tempfile::tempdir()?;
    let provenance = Provenance::default();
    small_tree(&[("c/ns/a.yaml", "a: 1\n")]).write(dir.path(), &provenance)?;
    // Someone puts a file where the next render writes one.
    write(&dir.path().join("c/ns/b.yaml"), "hand-written\n")?;
    let next = small_tree(&[("c/ns/a.yaml", "a: 1\n"), ("c/ns/b.yaml", "b: 1\n")]);
    match next.write(dir.path(), &provenance) {
        Err(RenderError::NotWards { paths, .. }) => assert_eq!(paths, ["c/ns/b.yaml"]),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("c/ns/b.yaml"))?,
        "hand-written\n"
    );
    let options = WriteOptions {
        dry_run: false,
        adopt: true,
    };
    let report = next.sync(dir.path(), &provenance, options)?;
    assert_eq!(report.adopted, ["c/ns/b.yaml"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("c/ns/b.yaml"))?,
        "b: 1\n"
    );
    Ok(())
}

#[test]
fn a_link_at_a_path_ward_writes_is_replaced_not_written_through() -> Result {
    let dir = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    let target = outside.path().join("precious");
    write(&target, "precious\n")?;
    let provenance = Provenance::default();
    let tree = small_tree(&[("c/ns/a.yaml", "a: 1\n")]);
    tree.write(dir.path(), &provenance)?;
    let link = dir.path().join("c/ns/a.yaml");
    std::fs::remove_file(&link)?;
    std::os::unix::fs::symlink(&target, &link)?;
    let report = tree.write(dir.path(), &provenance)?;
    assert_eq!(report.hand_edited, ["c/ns/a.yaml"]);
    assert_eq!(std::fs::read_to_string(&target)?, "precious\n");
    assert!(!std::fs::symlink_metadata(&link)?.file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&link)?, "a: 1\n");

    // A linked folder is refused, adopting or not: nothing is written through it.
    let folder = dir.path().join("c/ns");
    std::fs::remove_dir_all(&folder)?;
    std::os::unix::fs::symlink(outside.path(), &folder)?;
    for adopt in [false, true] {
        let options = WriteOptions {
            dry_run: false,
            adopt,
        };
        match tree.sync(dir.path(), &provenance, options) {
            Err(RenderError::NotWards { paths, .. }) => assert_eq!(paths, ["c/ns"]),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert!(!outside.path().join("a.yaml").exists());
    Ok(())
}

#[test]
fn only_recorded_files_are_removed_and_folders_left_empty_go() -> Result {
    let dir = tempfile::tempdir()?;
    let provenance = Provenance::default();
    let first = small_tree(&[
        ("c/ns/a.yaml", "a: 1\n"),
        ("c/gone/b.yaml", "b: 1\n"),
        ("c/ns/odoo.conf", "[options]\n"),
    ]);
    first.write(dir.path(), &provenance)?;
    write(&dir.path().join(NOTES), "mine\n")?;
    write(&dir.path().join("c/ns/other.conf"), "mine too\n")?;
    let second = small_tree(&[("c/ns/a.yaml", "a: 2\n")]);
    let dry = second.changes(dir.path(), &provenance)?;
    let report = second.write(dir.path(), &provenance)?;
    assert_eq!(dry, report, "the dry run tells what the write does");
    assert_eq!(report.written, ["c/ns/a.yaml"]);
    assert_eq!(report.removed, ["c/gone/b.yaml", "c/ns/odoo.conf"]);
    assert_eq!(report.kept, ["c/ns/notes.yaml", "c/ns/other.conf"]);
    assert!(
        !dir.path().join("c/gone").exists(),
        "an emptied folder goes"
    );
    assert!(dir.path().join(NOTES).is_file());
    assert!(dir.path().join("c/ns/other.conf").is_file());
    let record = TreeRecord::read(dir.path())?.ok_or("no record")?;
    assert_eq!(record.files.keys().collect::<Vec<_>>(), ["c/ns/a.yaml"]);
    Ok(())
}

#[test]
fn a_tree_for_the_other_target_is_refused() -> Result {
    let dir = tempfile::tempdir()?;
    let provenance = Provenance::default();
    let mut compose = small_tree(&[("host/compose.yaml", "services: {}\n")]);
    compose.target = ward_render::Target::Compose;
    compose.write(dir.path(), &provenance)?;
    let kubernetes = small_tree(&[("c/ns/a.yaml", "a: 1\n")]);
    let result = kubernetes.write(dir.path(), &provenance);
    assert!(
        matches!(result, Err(RenderError::OtherTarget { .. })),
        "{result:?}"
    );
    assert!(dir.path().join("host/compose.yaml").is_file());
    Ok(())
}

#[test]
fn plans_read_only_the_files_the_record_lists() -> Result {
    let dir = tempfile::tempdir()?;
    let tree = example_tree()?;
    let provenance = Provenance {
        estate_commit: Some("0".repeat(40)),
        ..Provenance::default()
    };
    let notes = "dedicated-eu1/billing-prod/configmap-notes.yaml";
    // Without a record nothing is Ward's: the plan reads nothing.
    write(&dir.path().join(notes), "apiVersion: v1\nkind: ConfigMap\n")?;
    assert!(ward_render::plan::read_existing(dir.path())?.is_empty());
    let options = WriteOptions {
        dry_run: false,
        adopt: true,
    };
    tree.sync(dir.path(), &provenance, options)?;
    let existing = ward_render::plan::read_existing(dir.path())?;
    assert_eq!(
        existing.keys().collect::<Vec<_>>(),
        tree.files.keys().collect::<Vec<_>>()
    );
    let plan = ward_render::plan::plan(
        &tree,
        &existing,
        &ward_render::review::Review::detached("test", Vec::new()),
        ward_render::Target::Kubernetes,
    )?;
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);

    // The same through Git: the record committed at the revision says what is Ward's.
    let git = |args: &[&str]| -> Result {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
        Ok(())
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-qm", "tree and notes"])?;
    let at_head = ward_render::plan::read_git(dir.path(), "HEAD")?;
    assert_eq!(at_head, existing);
    assert!(!at_head.contains_key(notes));
    let record = TreeRecord::read_git(dir.path(), "HEAD")?.ok_or("no record at HEAD")?;
    assert_eq!(record.estate_commit, provenance.estate_commit);
    // A commit without a record holds nothing of Ward's.
    git(&["rm", "-q", RECORD_FILE])?;
    git(&["commit", "-qm", "no record"])?;
    assert!(TreeRecord::read_git(dir.path(), "HEAD")?.is_none());
    assert!(ward_render::plan::read_git(dir.path(), "HEAD")?.is_empty());
    Ok(())
}

#[test]
fn a_record_that_does_not_parse_names_the_file_and_where() -> Result {
    let dir = tempfile::tempdir()?;
    write(
        &dir.path().join(RECORD_FILE),
        "{\n  \"format\": 1,\n  oops\n}\n",
    )?;
    let tree = small_tree(&[("c/ns/a.yaml", "a: 1\n")]);
    for result in [
        tree.write(dir.path(), &Provenance::default()).map(|_| ()),
        ward_render::plan::read_existing(dir.path()).map(|_| ()),
    ] {
        match result {
            Err(e @ RenderError::BadRecord { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(RECORD_FILE) && text.contains("line 3"),
                    "{text}"
                );
            }
            other => panic!("expected a bad record, got {other:?}"),
        }
    }
    assert!(!dir.path().join("c").exists());
    Ok(())
}

#[test]
fn a_run_cut_short_leaves_a_record_that_covers_what_it_wrote() -> Result {
    let dir = tempfile::tempdir()?;
    let provenance = Provenance::default();
    small_tree(&[("c/ns/a.yaml", "a: 1\n"), ("c/ns/z.yaml", "z: 1\n")])
        .write(dir.path(), &provenance)?;
    // The next run writes a.yaml and the new aa.yaml, then fails on b.yaml (a folder is
    // in the way), before it removes z.yaml and writes its final record.
    std::fs::create_dir_all(dir.path().join("c/ns/b.yaml/in-the-way"))?;
    let next = small_tree(&[
        ("c/ns/a.yaml", "a: 2\n"),
        ("c/ns/aa.yaml", "aa: 1\n"),
        ("c/ns/b.yaml", "b: 1\n"),
    ]);
    let cut_short = next.write(dir.path(), &provenance);
    assert!(
        matches!(cut_short, Err(RenderError::Io { .. })),
        "{cut_short:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("c/ns/aa.yaml"))?,
        "aa: 1\n"
    );
    let record = TreeRecord::read(dir.path())?.ok_or("no record")?;
    assert_eq!(
        record.files.keys().collect::<Vec<_>>(),
        ["c/ns/a.yaml", "c/ns/aa.yaml", "c/ns/b.yaml", "c/ns/z.yaml"],
        "the record covers the files written and the one still to remove"
    );
    // Once the way is clear, the next run finishes the job: aa.yaml is Ward's, a.yaml is
    // not mistaken for a hand edit, z.yaml goes.
    std::fs::remove_dir_all(dir.path().join("c/ns/b.yaml"))?;
    let report = next.write(dir.path(), &provenance)?;
    assert_eq!(report.written, ["c/ns/b.yaml"]);
    assert_eq!(report.removed, ["c/ns/z.yaml"]);
    assert!(report.hand_edited.is_empty() && report.adopted.is_empty());
    let record = TreeRecord::read(dir.path())?.ok_or("no record")?;
    assert_eq!(
        record.files.keys().collect::<Vec<_>>(),
        ["c/ns/a.yaml", "c/ns/aa.yaml", "c/ns/b.yaml"]
    );
    Ok(())
}
