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
    assert!(msg.contains("unknown field `replcas`"), "{msg}");
}
