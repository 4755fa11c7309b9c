using Detach.Gateway.Configuration;

namespace Detach.Gateway.Tests.Configuration;

/// <summary>Every validation message names the bad key and says what is expected, and all are reported at once.</summary>
public class ValidationMessageTests
{
    private static ConfigurationException LoadFails(params string[] overrides) =>
        Assert.Throws<ConfigurationException>(() => DetachSettings.Load(DetachConfiguration.Build(null, overrides)));

    [Fact]
    public void Defaults_are_valid()
    {
        var settings = DetachSettings.Load(DetachConfiguration.Build(null, []));
        Assert.Equal("./data", settings.Root.DataPath);
        Assert.Equal(StoreKind.Local, settings.Vault.EffectiveStore);
        Assert.Equal("127.0.0.1:10025", settings.Smtp.Listen);
    }

    [Theory]
    [InlineData("PublicUrl=files.example.com", "PublicUrl must be an absolute http(s) URL")]
    [InlineData("PublicUrl=ftp://files.example.com", "PublicUrl must be an absolute http(s) URL")]
    [InlineData("PublicUrl=https://files.example.com/?a=b", "PublicUrl must not have a query or a fragment")]
    [InlineData("PublicUrl=https://files.example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "PublicUrl must be at most 80 characters")]
    [InlineData("DataPath= ", "DataPath must name a folder")]
    [InlineData("TotalMessageMemoryBytes=-1", "TotalMessageMemoryBytes must be between 0 (every message on disk) and 4294967296 (4 GiB), not -1")]
    [InlineData("TotalMessageMemoryBytes=5000000000", "TotalMessageMemoryBytes must be between 0")]
    [InlineData("MessageMemoryBytes=-1", "MessageMemoryBytes must be between 0 (every message on disk) and TotalMessageMemoryBytes (67108864), not -1")]
    [InlineData("MessageMemoryBytes=100000000", "MessageMemoryBytes must be between 0 (every message on disk) and TotalMessageMemoryBytes (67108864), not 100000000")]
    [InlineData("Smtp:Listen=localhost", "Smtp:Listen must be an address and port")]
    [InlineData("Smtp:NextHop=http://x:1", "Smtp:NextHop must be smtp://host:port")]
    [InlineData("Smtp:NextHop=smtp://127.0.0.1", "Smtp:NextHop must give the port explicitly")]
    [InlineData("Smtp:NextHop=lmtp:", "Smtp:NextHop must name a host and port")]
    [InlineData("Smtp:MaxMessageBytes=10", "Smtp:MaxMessageBytes must be at least 1024")]
    [InlineData("Smtp:MaxTextLineLength=80", "Smtp:MaxTextLineLength must be 0 (no limit) or at least 1000")]
    [InlineData("Smtp:MaxConnections=0", "Smtp:MaxConnections must be at least 1")]
    [InlineData("Smtp:IdleTimeoutSeconds=0", "Smtp:IdleTimeoutSeconds must be at least 1")]
    [InlineData("Smtp:MaxConnectionsPerClient=-1", "Smtp:MaxConnectionsPerClient must be 0 (no limit per client) or more")]
    [InlineData("Smtp:DataTimeoutSeconds=0", "Smtp:DataTimeoutSeconds must be at least 1 and at most Smtp:SessionTimeoutSeconds (1800), not 0")]
    [InlineData("Smtp:DataTimeoutSeconds=3600", "Smtp:DataTimeoutSeconds must be at least 1 and at most Smtp:SessionTimeoutSeconds")]
    [InlineData("Smtp:MinDataRateBytesPerSecond=-5", "Smtp:MinDataRateBytesPerSecond must be 0 (no minimum) or more")]
    [InlineData("Smtp:NextHopPoolSize=-1", "Smtp:NextHopPoolSize must be 0 (no pooling) or more")]
    [InlineData("Smtp:NextHopTimeoutSeconds=0", "Smtp:NextHopTimeoutSeconds must be at least 1")]
    [InlineData("Smtp:AuthorizedXforwardNetworks:0=10.0.0.0/99", "Smtp:AuthorizedXforwardNetworks has '10.0.0.0/99'")]
    [InlineData("Smtp:TlsCertificatePath=/nonexistent/cert.pem", "Smtp:TlsCertificatePath names '/nonexistent/cert.pem', which does not exist")]
    [InlineData("Vault:Store=Ipfs", "Vault:IpfsApiUrl must be the node's RPC API")]
    [InlineData("Vault:IpfsApiUrl=127.0.0.1:5001", "Vault:IpfsApiUrl must be the node's RPC API")]
    [InlineData("Vault:RetentionDays=0", "Vault:RetentionDays must be between 1 and 3650")]
    [InlineData("Vault:RetentionDaysBySenderDomain:example.com=0", "Vault:RetentionDaysBySenderDomain:example.com must be between 1 and 3650 days")]
    [InlineData("Vault:RetentionDaysBySenderDomain:example.com=a week", "Vault:RetentionDaysBySenderDomain:example.com must be a whole number, not 'a week'")]
    [InlineData("Vault:IpfsTimeoutSeconds=0", "Vault:IpfsTimeoutSeconds must be at least 1")]
    [InlineData("Vault:MaintenanceIntervalSeconds=0", "Vault:MaintenanceIntervalSeconds must be at least 1")]
    [InlineData("Gateway:Listen=127.0.0.1:8080", "Gateway:Listen must be http(s)://address:port URLs")]
    [InlineData("Gateway:MaxConcurrentDownloads=0", "Gateway:MaxConcurrentDownloads must be at least 1")]
    [InlineData("Gateway:KeyAttemptsPerMinute=0", "Gateway:KeyAttemptsPerMinute must be at least 1")]
    [InlineData("Gateway:MaxDownloadsPerLink=0", "Gateway:MaxDownloadsPerLink must be at least 1")]
    [InlineData("Gateway:DownloadTokenMinutes=0", "Gateway:DownloadTokenMinutes must be between 1 and 1440")]
    [InlineData("Index:Kind=postgres", "Index:ConnectionString is required when Index:Kind is postgres")]
    [InlineData("Index:Kind=mysql", "Index:Kind must be 'sqlite' or 'postgres'")]
    [InlineData("Policy:MinSizeBytes=-1", "Policy:MinSizeBytes must not be negative")]
    [InlineData("Policy:MinSizeBytes=2000000000000", "Policy:MinSizeBytes is larger than 1 TiB")]
    [InlineData("Policy:MaxAttachmentsPerMessage=0", "Policy:MaxAttachmentsPerMessage must be between 1 and 100000")]
    public void Names_the_bad_key(string setting, string expected)
    {
        var error = LoadFails(setting);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgres", "Host=db;Nonsense", "Index:ConnectionString is not a valid PostgreSQL (Npgsql) connection string")]
    [InlineData("sqlite", "Cache=Shared", "Index:ConnectionString must name a database file (Data Source)")]
    public void Index_connection_strings_are_checked_for_their_kind(string kind, string connectionString, string expected)
    {
        var error = LoadFails($"Index:Kind={kind}", $"Index:ConnectionString={connectionString}");
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Nonsense", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_of_the_wrong_type_names_its_key()
    {
        var error = LoadFails("Smtp:MaxConnections=many");
        Assert.Contains("Smtp", error.Message, StringComparison.Ordinal);
        Assert.Contains("many", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void All_problems_are_reported_together()
    {
        var error = LoadFails("PublicUrl=nope", "Vault:RetentionDays=0", "Gateway:MaxConcurrentDownloads=0");
        Assert.Contains("PublicUrl", error.Message, StringComparison.Ordinal);
        Assert.Contains("Vault:RetentionDays", error.Message, StringComparison.Ordinal);
        Assert.Contains("Gateway:MaxConcurrentDownloads", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_setting_given_twice_takes_the_last_value()
    {
        var settings = DetachSettings.Load(DetachConfiguration.Build(null, ["Vault:RetentionDays=5", "vault__retentiondays=6"]));
        Assert.Equal(6, settings.Vault.RetentionDays);
    }

    [Fact]
    public void A_malformed_override_says_what_it_takes()
    {
        var error = Assert.Throws<ConfigurationException>(() => DetachConfiguration.Build(null, ["Smtp:Listen"]));
        Assert.Contains("KEY=VALUE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_ipfs_url_selects_the_ipfs_store()
    {
        var settings = DetachSettings.Load(DetachConfiguration.Build(null, ["Vault:IpfsApiUrl=http://127.0.0.1:5001"]));
        Assert.Equal(StoreKind.Ipfs, settings.Vault.EffectiveStore);
    }

    [Theory]
    [InlineData("smtp://127.0.0.1:10026", false, "127.0.0.1", 10026, null)]
    [InlineData("lmtp://mail.example.com:24", true, "mail.example.com", 24, null)]
    [InlineData("lmtp:/var/run/dovecot/lmtp", true, null, 0, "/var/run/dovecot/lmtp")]
    public void Next_hop_forms(string text, bool lmtp, string? host, int port, string? socket)
    {
        Assert.True(NextHopAddress.TryParse(text, out var address, out var error), error);
        Assert.Equal(new NextHopAddress(lmtp, host, port, socket), address);
    }
}

/// <summary>Changes a process-wide environment variable, so it runs apart from every other test.</summary>
[CollectionDefinition(nameof(EnvironmentVariableTests), DisableParallelization = true)]
public sealed class EnvironmentVariableCollection;

[Collection(nameof(EnvironmentVariableTests))]
public class EnvironmentVariableTests
{
    [Fact]
    public void Environment_variables_bind_with_the_DETACH_prefix()
    {
        Environment.SetEnvironmentVariable("DETACH__Vault__RetentionDays", "7");
        try
        {
            var settings = DetachSettings.Load(DetachConfiguration.Build(null, []));
            Assert.Equal(7, settings.Vault.RetentionDays);

            // The command line wins over the environment.
            settings = DetachSettings.Load(DetachConfiguration.Build(null, ["Vault__RetentionDays=9"]));
            Assert.Equal(9, settings.Vault.RetentionDays);
        }
        finally
        {
            Environment.SetEnvironmentVariable("DETACH__Vault__RetentionDays", null);
        }
    }
}
