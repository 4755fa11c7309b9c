using System.Reflection;
using System.Text.RegularExpressions;
using Detach.Gateway.Configuration;
using Detach.Tests.Support;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace Detach.Gateway.Tests.Deployment;

/// <summary>
/// Docker cannot run here, so the compose file is checked as data: every service, port, volume and
/// DETACH__ variable against the configuration schema, and the Postfix wiring against the test fragments.
/// </summary>
public partial class ComposeFileTests
{
    private static readonly string Root = RepositoryPaths.Root;
    private static readonly YamlMappingNode Services = (YamlMappingNode)LoadCompose()["services"];

    private static YamlMappingNode LoadCompose()
    {
        var yaml = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Root, "docker-compose.yml"));
        yaml.Load(reader);
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    private static YamlMappingNode Service(string name) => (YamlMappingNode)Services[name];

    private static Dictionary<string, string> Environment(string service) =>
        ((YamlMappingNode)Service(service)["environment"]).Children
            .ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value!);

    /// <summary>Compose's ${VAR:-default} as the default an operator gets.</summary>
    private static string Default(string value) => DefaultPattern().Replace(value, m => m.Groups[1].Value);

    [Fact]
    public void Has_postfix_detach_kubo_and_clamav_each_with_a_health_check()
    {
        Assert.Equal(["clamav", "detach", "kubo", "postfix"], Services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).Order());
        foreach (var name in new[] { "postfix", "detach", "kubo", "clamav" })
        {
            Assert.True(Service(name).Children.ContainsKey("healthcheck"), $"{name} has no healthcheck");
        }

        Assert.Equal("ipfs/kubo:release", ((YamlScalarNode)Service("kubo")["image"]).Value);
    }

    [Fact]
    public void Every_detach_variable_is_a_setting_and_the_whole_set_validates()
    {
        var environment = Environment("detach").ToDictionary(p => p.Key, p => Default(p.Value));
        Assert.All(environment.Keys, key => Assert.StartsWith(DetachConfiguration.EnvironmentPrefix, key, StringComparison.Ordinal));

        var pairs = environment.Select(p => new KeyValuePair<string, string?>(
            p.Key[DetachConfiguration.EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), p.Value)).ToList();
        foreach (var (key, _) in pairs)
        {
            Assert.True(SettingExists(key), $"docker-compose.yml sets {key}, which no options class has");
        }

        var settings = DetachSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(pairs).Build());
        Assert.Equal(StoreKind.Ipfs, settings.Vault.EffectiveStore);
        Assert.Equal("http://kubo:5001", settings.Vault.IpfsApiUrl);
        Assert.Equal("tcp://clamav:3310", settings.Scan.Endpoint()?.Text);
    }

    [Fact]
    public void Detach_reaches_clamd_on_a_network_its_namespace_shares_and_waits_for_its_databases()
    {
        // detach lives in Postfix's network namespace, so clamav must share one of Postfix's networks; it needs the
        // internet for freshclam, so not the internal vault network.
        var clamavNetworks = ((YamlSequenceNode)Service("clamav")["networks"]).Select(n => ((YamlScalarNode)n).Value!).ToList();
        var postfixNetworks = ((YamlSequenceNode)Service("postfix")["networks"]).Select(n => ((YamlScalarNode)n).Value!).ToList();
        Assert.NotEmpty(clamavNetworks.Intersect(postfixNetworks));
        Assert.DoesNotContain("vault", clamavNetworks);
        Assert.False(Service("clamav").Children.ContainsKey("ports"), "clamd must not be published");

        var dependsOn = (YamlMappingNode)Service("detach")["depends_on"];
        Assert.Equal("service_healthy", ((YamlScalarNode)((YamlMappingNode)dependsOn["clamav"])["condition"]).Value);
        Assert.Contains("clamav-db:/var/lib/clamav", Volumes("clamav"));
        Assert.Equal(3310, new Uri(Default(Environment("detach")["DETACH__Scan__Clamd"])).Port);
    }

    [Fact]
    public void Ports_volumes_and_addresses_line_up()
    {
        var detach = Environment("detach").ToDictionary(p => p.Key, p => Default(p.Value));
        var postfix = Environment("postfix");
        Assert.Equal("service:postfix", ((YamlScalarNode)Service("detach")["network_mode"]).Value);

        // Postfix hands sessions to detach's listener and takes mail back on the reinjection port.
        Assert.Equal($"127.0.0.1:{postfix["DETACH_FILTER_PORT"]}", detach["DETACH__Smtp__Listen"]);
        Assert.Equal($"smtp://127.0.0.1:{postfix["DETACH_REINJECT_PORT"]}", detach["DETACH__Smtp__NextHop"]);
        Assert.Equal(postfix["MESSAGE_SIZE_LIMIT"], detach["DETACH__Smtp__MaxMessageBytes"]);

        // The gateway's port is published by the service whose network detach shares.
        var gatewayPort = new Uri(detach["DETACH__Gateway__Listen"].Replace("0.0.0.0", "host", StringComparison.Ordinal)).Port;
        var published = ((YamlSequenceNode)Service("postfix")["ports"]).Select(p => ((YamlScalarNode)p).Value!).ToList();
        Assert.Contains($"{gatewayPort}:{gatewayPort}", published);
        Assert.Contains("25:25", published);
        Assert.Equal(gatewayPort, new Uri(detach["DETACH__PublicUrl"]).Port);

        // Each service keeps its state in a named volume; the data folder is where DataPath points.
        Assert.Contains($"detach-data:{detach["DETACH__DataPath"]}", Volumes("detach"));
        Assert.Contains("kubo-repo:/data/ipfs", Volumes("kubo"));
        Assert.Contains("postfix-queue:/var/spool/postfix", Volumes("postfix"));
        var declared = ((YamlMappingNode)LoadCompose()["volumes"]).Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToHashSet();
        Assert.Superset(declared, new[] { "detach-data", "kubo-repo", "postfix-queue", "clamav-db" }.ToHashSet());

        var init = Volumes("kubo").Single(v => v.Contains("/container-init.d/", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(Root, init.Split(':')[0])), $"{init} mounts a file that is not in the repository");
    }

    [Fact]
    public void The_vault_network_is_private()
    {
        var networks = (YamlMappingNode)LoadCompose()["networks"];
        Assert.Equal("true", ((YamlScalarNode)((YamlMappingNode)networks["vault"])["internal"]).Value);
        Assert.False(Service("kubo").Children.ContainsKey("ports"), "the Kubo RPC API must not be published");
        var init = File.ReadAllText(Path.Combine(Root, "ipfs", "kubo-init.sh"));
        Assert.Contains("Routing.Type '\"none\"'", init, StringComparison.Ordinal);
        Assert.Contains("Provide.Enabled false", init, StringComparison.Ordinal);
    }

    [Fact]
    public void Postfix_image_installs_the_fragments_the_tests_use_and_renders_every_placeholder()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "deploy", "postfix", "Dockerfile"));
        var entrypoint = File.ReadAllText(Path.Combine(Root, "deploy", "postfix", "entrypoint.sh"));
        foreach (var fragment in new[] { "main.cf.fragment", "master.cf.fragment" })
        {
            Assert.Contains(fragment, dockerfile, StringComparison.Ordinal);
            foreach (Match placeholder in PlaceholderPattern().Matches(File.ReadAllText(Path.Combine(Root, "deploy", "postfix", fragment))))
            {
                Assert.Contains($"s/{placeholder.Value}/", entrypoint, StringComparison.Ordinal);
            }
        }

        Assert.Equal("deploy/postfix", ((YamlScalarNode)Service("postfix")["build"]).Value);
    }

    private static List<string> Volumes(string service) =>
        ((YamlSequenceNode)Service(service)["volumes"]).Select(v => ((YamlScalarNode)v).Value!).ToList();

    private static readonly Dictionary<string, Type> Sections = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Smtp"] = typeof(SmtpFrontOptions),
        ["Policy"] = typeof(Detach.Mime.DetachPolicyOptions),
        ["Vault"] = typeof(VaultOptions),
        ["Index"] = typeof(Detach.Vault.Index.IndexOptions),
        ["Gateway"] = typeof(GatewayOptions),
        ["Scan"] = typeof(Detach.Gateway.Scanning.ScanOptions),
    };

    private static bool SettingExists(string key)
    {
        var parts = key.Split(':');
        var type = parts.Length == 1 ? typeof(DetachOptions) : Sections.GetValueOrDefault(parts[0]);
        var name = parts.Length == 1 ? parts[0] : parts[1];
        return type?.GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { CanWrite: true };
    }

    [GeneratedRegex(@"\$\{[A-Z_]+:-([^}]*)\}")]
    private static partial Regex DefaultPattern();

    [GeneratedRegex(@"\{\{[A-Z_]+\}\}")]
    private static partial Regex PlaceholderPattern();
}
