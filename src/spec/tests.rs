use super::*;

const MINIMAL: &str = "apiVersion: tikv-operator.dev/v1alpha1\nkind: TikvCluster\nmetadata:\n  name: demo\nspec:\n  pd:\n    replicas: 3\n  tikv:\n    replicas: 3\n";

#[test]
fn a_minimal_spec_gets_the_real_pingcap_images_by_default() {
    let (spec, warnings) =
        parse_str(MINIMAL, "cluster.yaml", ValidationContext::default()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(spec.spec.pd.image.as_str(), DEFAULT_PD_IMAGE);
    assert_eq!(spec.spec.tikv.image.as_str(), DEFAULT_TIKV_IMAGE);
    assert_eq!(spec.network_name(), "demo-net");
}

#[test]
fn an_unknown_field_is_reported_with_file_line_and_column() {
    let text = MINIMAL.replace("    replicas: 3\n  tikv", "    replcas: 3\n  tikv");
    let err = parse_str(&text, "cluster.yaml", ValidationContext::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("cluster.yaml:7:5: "), "{msg}");
    assert_eq!(
        msg,
        "cluster.yaml:7:5: spec.pd.replcas: unknown field; did you mean \"replicas\"?"
    );
}

#[test]
fn the_shape_and_the_types_agree_on_every_shipped_example_and_on_the_defaults() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut texts: Vec<(String, String)> = ["cluster.yaml", "minimal.yaml", "sim-cluster.yaml"]
        .iter()
        .map(|f| {
            let p = format!("{dir}/{f}");
            (p.clone(), std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    // Every field written out, defaults included.
    let (full, _) = parse_str(MINIMAL, "m", ValidationContext::default()).unwrap();
    texts.push(("defaults".into(), yaml_serde::to_string(&full).unwrap()));
    for (name, text) in texts {
        let mut v: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
        let mut problems = Vec::new();
        assert!(schema::check(
            &mut v,
            &schema::TIKV_CLUSTER,
            "",
            &mut problems
        ));
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let typed: ClusterSpec = yaml_serde::from_str(&text).unwrap();
        assert_eq!(
            yaml_serde::from_value::<ClusterSpec>(v).unwrap(),
            typed,
            "{name}"
        );
    }
}

#[test]
fn a_wrongly_typed_field_still_lets_the_other_fields_be_checked() {
    let text = MINIMAL.replace("replicas: 3\n  tikv", "replicas: [3]\n  tikv")
        + "  reconcile:\n    interval: 1ms\n";
    let SpecError::Invalid(list) =
        parse_str(&text, "c.yaml", ValidationContext::default()).unwrap_err()
    else {
        panic!("expected Invalid");
    };
    let paths: Vec<_> = list.iter().filter_map(|l| l.path.as_deref()).collect();
    assert_eq!(paths, ["spec.pd.replicas", "spec.reconcile.interval"]);
}
