//! The namespace helper really isolates: inside, loopback is the only interface and it is up.

#[test]
fn the_private_namespace_has_only_loopback() {
    if !sk2_testkit::in_private_netns("the_private_namespace_has_only_loopback") {
        return;
    }
    // /proc/net/dev lists the interfaces of the reader's network namespace (sysfs would show the
    // host's, being mounted outside).
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let interfaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, ["lo"]);
    let link = std::process::Command::new("ip")
        .args(["link", "show", "lo"])
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(link.contains("MULTICAST") && link.contains(",UP"), "{link}");
}
