"""The reads `exops status` makes per peer (the same set for every contender)."""

READS = (
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
