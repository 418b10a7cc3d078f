//! Listing against a naive model, with paging.

use super::index::Index;
use super::*;
use proptest::prelude::*;

fn model(keys: &[String], prefix: &str, delim: Option<&str>, after: Option<&str>) -> Vec<ListItem> {
    let mut sorted: Vec<&String> = keys.iter().filter(|k| k.starts_with(prefix)).collect();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<ListItem> = Vec::new();
    for k in sorted {
        let rest = &k[prefix.len()..];
        let item = match delim
            .filter(|d| !d.is_empty())
            .and_then(|d| rest.find(d).map(|i| (i, d)))
        {
            Some((i, d)) => ListItem::CommonPrefix(k[..prefix.len() + i + d.len()].to_string()),
            None => ListItem::Object {
                key: k.clone(),
                size: 0,
                etag: String::new(),
                mtime_millis: 0,
                content_type: None,
            },
        };
        if out.last() != Some(&item) && after.is_none_or(|a| item.sort_key() > a) {
            out.push(item);
        }
    }
    out
}

fn index_of(keys: &[String]) -> Index {
    let mut idx = Index::default();
    for (i, k) in keys.iter().enumerate() {
        let e = Rc::new(ObjectEntry {
            bucket: 1,
            key: k.clone(),
            version_id: 0,
            meta: ObjectMeta::default(),
            extents: vec![],
            commit_seq: i as u64,
            order: i as u64,
            delete_marker: false,
        });
        assert!(idx.insert(e).is_ok(), "newer seq replaces");
    }
    idx
}

fn key_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof!["a", "b", "/", "//", "é", "\u{10FFFF}", "z", "-", "ab"],
        0..6,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn paging_matches_model(
        keys in proptest::collection::vec(key_strategy(), 0..40),
        prefix in prop_oneof!["", "a", "a/", "b", "é"],
        delim in prop_oneof![Just(None), Just(Some("/")), Just(Some("//")), Just(Some("ab")), Just(Some("é"))],
        limit in 1usize..6,
    ) {
        let idx = index_of(&keys);
        let want = model(&keys, &prefix, delim, None);
        let mut got: Vec<ListItem> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = idx.list(1, &prefix, delim, after.as_deref(), limit);
            prop_assert!(page.len() <= limit);
            if page.is_empty() { break; }
            after = Some(page.last().expect("non-empty").sort_key().to_string());
            got.extend(page);
        }
        let strip = |v: Vec<ListItem>| v.into_iter().map(|i| match i { ListItem::Object { key, .. } => (0, key), ListItem::CommonPrefix(p) => (1, p) }).collect::<Vec<_>>();
        prop_assert_eq!(strip(got), strip(want));
    }

    #[test]
    fn start_after_matches_model(
        keys in proptest::collection::vec(key_strategy(), 0..30),
        after in key_strategy(),
        delim in prop_oneof![Just(None), Just(Some("/"))],
    ) {
        let idx = index_of(&keys);
        let got: Vec<String> = idx.list(1, "", delim, Some(&after), 1000).iter().map(|i| i.sort_key().to_string()).collect();
        let want: Vec<String> = model(&keys, "", delim, Some(&after)).iter().map(|i| i.sort_key().to_string()).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn rolled_up_prefix_is_skipped_by_seek() {
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("big/{i:05}"))
        .chain(["a".into(), "c".into()])
        .collect();
    let idx = index_of(&keys);
    let page = idx.list(1, "", Some("/"), Some("big/"), 10);
    assert_eq!(
        page.iter().map(|i| i.sort_key()).collect::<Vec<_>>(),
        vec!["c"]
    );
    assert_eq!(idx.bucket_stats(1).0, 10_002);
}
