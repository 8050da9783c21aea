//! The shape of `src/`, read from its `use` paths: which module may import which (driving adapters, use cases,
//! domain, driven adapters; dependencies point inward), and no import cycle between any two modules of one
//! parent. Test modules (`#[cfg(test)]`) are left out: what they import is not the architecture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every module of the library with its file: `src/driven/dynamodb/outbox.rs` is `driven::dynamodb::outbox`.
fn modules() -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let mut module = prefix.to_vec();
            if path.is_dir() {
                module.push(name);
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if name != "mod" && name != "lib" {
                    module.push(name);
                }
                out.insert(module, path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = BTreeMap::new();
    walk(&src, &[], &mut all);
    // The binaries are their own crates, thin over the library: not modules of it.
    all.retain(|module, _| module.first().is_none_or(|m| m != "main" && m != "bin"));
    all
}

/// The modules a file names (`crate::a::b`, `super::c`, `super::{d, e}`), outside comments and tests.
fn imports(module: &Module, file: &Path, known: &BTreeMap<Module, PathBuf>) -> BTreeSet<Module> {
    let text = std::fs::read_to_string(file).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap();
    let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    // `super` is the parent module, whether the file is `a/b.rs` or `a/b/mod.rs`.
    let parent: Module = module[..module.len().saturating_sub(1)].to_vec();
    let mut found = BTreeSet::new();
    for (anchor, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for (i, _) in code.match_indices(anchor) {
            // Not the tail of a longer path (`self::super::`, `foo_crate::`).
            if code[..i].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[i + anchor.len()..];
            let paths: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => {
                    group[..group.find('}').unwrap_or(group.len())].split(',').map(|p| p.trim().to_owned()).collect()
                }
                None => vec![rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect()],
            };
            for path in paths {
                let mut target = base.clone();
                let mut longest = None;
                for segment in path.split("::").filter(|s| !s.is_empty()) {
                    target.push(segment.to_owned());
                    if known.contains_key(&target) {
                        longest = Some(target.clone());
                    }
                }
                found.extend(longest);
            }
        }
    }
    found.remove(module);
    found
}

/// Every import as an edge between the two siblings it crosses (`driven::dynamodb::outbox` importing
/// `driven::dynamodb::items` is `outbox -> items` under `driven::dynamodb`; `driving::http` importing
/// `service` is `driving -> service` at the top). An import of an ancestor or a descendant crosses nothing.
fn sibling_edges() -> BTreeSet<(Module, Module)> {
    let known = modules();
    let mut edges = BTreeSet::new();
    for (module, file) in &known {
        for target in imports(module, file, &known) {
            let common = module.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == module.len() || common == target.len() {
                continue;
            }
            edges.insert((module[..=common].to_vec(), target[..=common].to_vec()));
        }
    }
    edges
}

#[test]
fn no_two_modules_of_one_parent_import_each_other_even_through_others() {
    let edges = sibling_edges();
    let mut cycles = Vec::new();
    for (from, to) in &edges {
        // A path back from `to` to `from` among siblings closes a cycle.
        let mut seen = BTreeSet::from([to.clone()]);
        let mut frontier = vec![to.clone()];
        while let Some(at) = frontier.pop() {
            for (a, b) in edges.iter().filter(|(a, _)| *a == at) {
                if b == from {
                    cycles.push(format!("{} -> {} -> … -> {}", from.join("::"), to.join("::"), a.join("::")));
                }
                if seen.insert(b.clone()) {
                    frontier.push(b.clone());
                }
            }
        }
    }
    println!("{} imports between sibling modules, no cycle among them", edges.len());
    assert!(cycles.is_empty(), "import cycles in src/:\n{}", cycles.join("\n"));
}

#[test]
fn dependencies_point_inward_from_the_adapters_to_the_domain() {
    // The top-level modules each may import, beside itself. The domain imports nothing; the use cases only
    // the domain and the ports; the driven adapters (what the service calls) and the driving ones (what
    // calls it) never each other; only the composition root and the local stand-ins see both wings.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("domain", &[][..]),
        ("ports", &["domain"][..]),
        ("schema", &["domain"][..]),
        ("config", &["domain", "schema"][..]),
        ("telemetry", &[][..]),
        ("service", &["domain", "ports", "telemetry"][..]),
        ("driven", &["domain", "ports", "schema", "config"][..]),
        ("driving", &["domain", "ports", "schema", "service", "telemetry"][..]),
        ("compose", &["config", "domain", "driven", "ports", "service"][..]),
        ("local", &["compose", "config", "domain", "driven", "driving", "ports", "telemetry"][..]),
    ]);
    let mut wrong = Vec::new();
    let mut tops = BTreeSet::new();
    for (from, to) in sibling_edges().into_iter().filter(|(from, _)| from.len() == 1) {
        let (from, to) = (from[0].clone(), to[0].clone());
        tops.insert(from.clone());
        match allowed.get(from.as_str()) {
            Some(may) if may.contains(&to.as_str()) => {}
            Some(_) => wrong.push(format!("{from} imports {to}")),
            None => wrong.push(format!("{from} is a top-level module this test does not know: add its rule")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(tops.contains("driving") && tops.contains("driven"), "the test reads the modules: {tops:?}");
}

/// Every file under `src/bin/`, with its text outside comments.
fn binaries() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
                out.push((path, code));
            }
        }
    }
    let mut all = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin"), &mut all);
    all
}

#[test]
fn the_binaries_reach_the_stores_only_through_the_service_and_the_composition_root() {
    // A binary parses arguments, calls use cases and prints: it may name the domain's types (to parse and print),
    // the configuration, the composition root, the service, the local stand-ins and the logs; never a port, an
    // adapter or a store's method.
    let allowed = ["compose", "config", "domain", "service", "local", "telemetry"];
    let binaries = binaries();
    let mut wrong = Vec::new();
    let mut named = BTreeSet::new();
    for (path, code) in &binaries {
        let file = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string();
        for (i, _) in code.match_indices("ticket_api::") {
            let rest = &code[i + "ticket_api::".len()..];
            let modules: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or_default().to_owned())
                    .filter(|m| !m.is_empty())
                    .collect(),
                None => vec![rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()],
            };
            for module in modules {
                if !allowed.contains(&module.as_str()) {
                    wrong.push(format!("{file} names ticket_api::{module}"));
                }
                named.insert(module);
            }
        }
        if code.contains(".store()") {
            wrong.push(format!("{file} calls a store through the service's `store()`"));
        }
    }
    println!("{} files of src/bin name {:?} of the library", binaries.len(), named);
    assert!(binaries.len() >= 3 && named.contains("service"), "the test reads the binaries: {named:?}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
