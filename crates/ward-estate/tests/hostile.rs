//! Hostile input must not hurt: each case is refused with a clear diagnostic, never a
//! panic or a hang.

mod support;
use support::*;

#[test]
fn a_50_mb_file_is_refused_without_reading_it() {
    let dir = example();
    let f = std::fs::File::create(dir.path().join("huge.yaml")).expect("create");
    f.set_len(50 << 20).expect("set_len");
    let p = problems(dir.path());
    let e = find(&p, "this file is 52428800 bytes");
    assert_eq!(e.location, "huge.yaml:1:1");
    assert!(e.hint.contains("split"));
}

#[test]
fn deep_nesting_is_refused() {
    let dir = example();
    write(
        dir.path(),
        "deep.yaml",
        format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    write(
        dir.path(),
        "deep-map.yaml",
        (0..200)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect::<String>(),
    );
    let p = problems(dir.path());
    // Our own limit (64) or the parser's recursion limit, whichever trips first.
    for file in ["deep.yaml:", "deep-map.yaml:"] {
        let refused = p.iter().any(|x| {
            x.location.starts_with(file)
                && (x.message.contains("nested deeper than 64")
                    || x.message.contains("recursion limit"))
        });
        let seen: Vec<_> = p.iter().map(|x| (&x.location, &x.message)).collect();
        assert!(refused, "{file} not refused: {seen:?}");
    }
}

#[test]
fn an_alias_bomb_is_refused() {
    let dir = example();
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    write(dir.path(), "lol.yaml", bomb);
    let p = problems(dir.path());
    let e = find(&p, "YAML expands to more than");
    assert!(e.hint.contains("alias bomb"));
}

#[test]
fn non_utf8_bytes_are_refused_with_their_position() {
    let dir = example();
    write(
        dir.path(),
        "latin1.yaml",
        b"apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: caf\xe9\n".as_slice(),
    );
    let p = problems(dir.path());
    let e = find(&p, "not UTF-8");
    assert_eq!(e.location, "latin1.yaml:4:12");
}

#[test]
fn broken_yaml_is_located() {
    let dir = example();
    write(
        dir.path(),
        "broken.yaml",
        "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: [unclosed\nspec: {}\n",
    );
    let p = problems(dir.path());
    let e = find(&p, "invalid YAML");
    assert!(e.location.starts_with("broken.yaml:"), "{}", e.location);
}

#[test]
fn duplicate_keys_are_refused() {
    let dir = example();
    write(
        dir.path(),
        "dup.yaml",
        "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: x\n  name: y\nspec: {people: []}\n",
    );
    let p = problems(dir.path());
    let e = find(&p, "duplicate key `name`");
    assert_eq!(e.location, "dup.yaml:5:3");
}

#[test]
fn wrong_shapes_are_reported_not_panicked_on() {
    let dir = example();
    for (i, doc) in [
        "just a string",
        "- a\n- list",
        "apiVersion: ward.dev/v1\nkind: Workload\nmetadata: [1]\nspec: 3\n",
        "apiVersion: ward.dev/v1\nkind: Workload\nmetadata: {name: w, tenant: t}\nspec: {environments: {a: 1}, owner: [x]}\n",
        "apiVersion: ward.dev/v1\nkind: Platform\nmetadata: {name: p}\nspec: {clusters: [{name: c, role: shared, region: r, zones: z}]}\n",
        "? [complex, key]\n: value\n",
        "apiVersion: !!binary aGVsbG8=\nkind: Team\n",
        "*undefined_alias\n",
    ]
    .iter()
    .enumerate()
    {
        write(dir.path(), &format!("shape{i}.yaml"), doc);
    }
    let p = problems(dir.path());
    for i in 0..8 {
        assert!(
            p.iter()
                .any(|x| x.location.starts_with(&format!("shape{i}.yaml:"))),
            "shape{i} not reported: {p:#?}"
        );
    }
}

#[test]
fn symlinks_are_not_followed() {
    let dir = example();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd.yaml")).expect("symlink");
    let p = problems(dir.path());
    let e = find(&p, "symbolic link");
    assert_eq!(e.location, "passwd.yaml:1:1");
}
