"""The reads `exops status` makes per peer (the same set for every contender).

Since issue 16 status reads only what it shows (CDB REST on, transport
auto): the CDB availability probe, sysinfo, the four cluster settings tables,
the two cluster status tables and the alarms. Before, it read 17 paths
(`READS_BEFORE_ISSUE_16`: DNS, NTP, option keys, H.323, certificates, the
probe and a second `alternatesmaster`, none of them shown).
"""

READS = (
    "/api/management/configuration/alternatesmaster?peer=local&sizeonly=true",
    "/api/provisioning/sysinfo",
    "/api/management/configuration/alternates?peer=local",
    "/api/management/configuration/alternatesmaster?peer=local",
    "/api/management/configuration/cluster?peer=local",
    "/api/management/configuration/clusteraddressmapping?peer=local",
    "/api/management/status/clusterdatabase?peer=local",
    "/api/management/status/clusterpeer?peer=local",
    "/api/management/status/alarm?peer=local",
)

READS_BEFORE_ISSUE_16 = (
    "/api/v1/provisioning/common/cluster/peers",
    "/api/management/configuration/alternates?peer=local",
    "/api/management/configuration/alternatesmaster?peer=local",
    "/api/management/configuration/cluster?peer=local",
    "/api/management/configuration/clusteraddressmapping?peer=local",
    "/api/management/status/clusterpeer?peer=local",
    "/api/management/status/clusterdatabase?peer=local",
    "/api/management/status/alarm?peer=local",
    "/api/provisioning/sysinfo",
    "/api/provisioning/common/dns/dns",
    "/api/v1/provisioning/common/dns/dnsserver",
    "/api/v1/provisioning/common/time/ntpserver",
    "/api/provisioning/optionkey",
    "/api/management/configuration/h323?peer=local",
    "/api/provisioning/certs/server",
    "/api/provisioning/certs/root",
)
