using System.Collections;
using System.Reflection;
using Detach.Gateway.Configuration;

namespace Detach.Gateway.Tests.Configuration;

/// <summary>
/// List and map settings, by every route a value can take (appsettings.json, DETACH__ variables, --set). The
/// configuration binder appends to a collection the options object already holds, so a list with defaults could
/// only grow: an admin could never narrow who may send XFORWARD. A configured list replaces the default and any
/// list from an earlier source; an empty one means "none".
/// </summary>
public sealed class CollectionSettingsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("detach-config-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly string[] DefaultForwarders = ["127.0.0.0/8", "::1/128"];

    /// <summary>One valid value for each list setting of every options class: a new list setting must be added here.</summary>
    private static readonly Dictionary<string, string> ListSamples = new()
    {
        ["Smtp:AuthorizedXforwardNetworks"] = "127.0.0.1/32",
        ["Gateway:TrustedProxies"] = "10.0.0.0/8",
    };

    private string JsonFile(string json)
    {
        var path = Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, json);
        return path;
    }

    private static DetachSettings Load(string? file, params string[] overrides) =>
        DetachSettings.Load(DetachConfiguration.Build(file, overrides));

    [Fact]
    public void Without_configuration_the_default_networks_apply()
    {
        Assert.Equal(DefaultForwarders, Load(null).Smtp.AuthorizedXforwardNetworks);
    }

    [Theory]
    [InlineData("Smtp:AuthorizedXforwardNetworks:0=127.0.0.1/32")]
    [InlineData("Smtp__AuthorizedXforwardNetworks__0=127.0.0.1/32")]
    [InlineData("Smtp:AuthorizedXforwardNetworks=127.0.0.1/32")]
    public void A_list_on_the_command_line_replaces_the_default(string setting)
    {
        Assert.Equal(["127.0.0.1/32"], Load(null, setting).Smtp.AuthorizedXforwardNetworks);
    }

    [Fact]
    public void A_list_in_appsettings_json_replaces_the_default()
    {
        var file = JsonFile("""{ "Smtp": { "AuthorizedXforwardNetworks": [ "127.0.0.1/32" ] } }""");
        Assert.Equal(["127.0.0.1/32"], Load(file).Smtp.AuthorizedXforwardNetworks);
    }

    /// <summary>Layered sources merge lists index by index; a list given by a later source must replace the earlier one whole.</summary>
    [Fact]
    public void A_later_source_replaces_an_earlier_list_whole()
    {
        var file = JsonFile("""{ "Smtp": { "AuthorizedXforwardNetworks": [ "10.0.0.0/8", "192.168.0.0/16", "::1/128" ] } }""");
        Assert.Equal(["127.0.0.1/32"], Load(file, "Smtp:AuthorizedXforwardNetworks:0=127.0.0.1/32").Smtp.AuthorizedXforwardNetworks);
    }

    [Fact]
    public void A_comma_separated_value_is_a_list()
    {
        Assert.Equal(["127.0.0.1/32", "10.1.2.0/24"], Load(null, "Smtp:AuthorizedXforwardNetworks=127.0.0.1/32, 10.1.2.0/24").Smtp.AuthorizedXforwardNetworks);
    }

    [Fact]
    public void An_empty_list_means_nobody()
    {
        Assert.Empty(Load(null, "Smtp:AuthorizedXforwardNetworks=").Smtp.AuthorizedXforwardNetworks);
        Assert.Empty(Load(JsonFile("""{ "Smtp": { "AuthorizedXforwardNetworks": [] } }""")).Smtp.AuthorizedXforwardNetworks);
        Assert.Empty(Load(JsonFile("""{ "Smtp": { "AuthorizedXforwardNetworks": "" } }""")).Smtp.AuthorizedXforwardNetworks);
    }

    [Fact]
    public void A_list_entry_that_is_not_text_names_its_key()
    {
        var error = Assert.Throws<ConfigurationException>(() => Load(JsonFile("""{ "Smtp": { "AuthorizedXforwardNetworks": [ { "a": "b" } ] } }""")));
        Assert.Contains("Smtp:AuthorizedXforwardNetworks", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Retention_per_domain_holds_exactly_what_was_configured_by_every_route()
    {
        Assert.Empty(Load(null).Vault.RetentionDaysBySenderDomain);

        var map = Load(null, "Vault:RetentionDaysBySenderDomain:example.com=7").Vault.RetentionDaysBySenderDomain;
        Assert.Equal(7, Assert.Single(map).Value);
        Assert.Equal(7, map["EXAMPLE.com"]);

        var file = JsonFile("""{ "Vault": { "RetentionDaysBySenderDomain": { "example.com": 7, "example.org": 90 } } }""");
        map = Load(file).Vault.RetentionDaysBySenderDomain;
        Assert.Equal(2, map.Count);

        // Maps merge key by key: a later source changes one domain and keeps the others.
        map = Load(file, "Vault__RetentionDaysBySenderDomain__example.org=30").Vault.RetentionDaysBySenderDomain;
        Assert.Equal([("example.com", 7), ("example.org", 30)], map.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)));
    }

    /// <summary>
    /// Every list and map in every options section is covered: a list setting needs a sample above (and then gets
    /// the replace rule from the loader); a map must start empty, so binding can only hold what was configured.
    /// </summary>
    [Fact]
    public void Every_collection_setting_starts_empty_and_every_list_replaces_its_default()
    {
        var lists = new List<string>();
        foreach (var section in typeof(DetachSettings).GetProperties())
        {
            var prefix = section.Name == nameof(DetachSettings.Root) ? "" : section.Name + ":";
            var fresh = Activator.CreateInstance(section.PropertyType)!;
            foreach (var property in section.PropertyType.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
            {
                var type = property.PropertyType;
                if (type == typeof(string) || !typeof(IEnumerable).IsAssignableFrom(type))
                {
                    continue;
                }

                var key = prefix + property.Name;
                var value = (IEnumerable?)property.GetValue(fresh);
                Assert.True(value is null || !value.GetEnumerator().MoveNext(), $"{key} is pre-filled: binding would add to its defaults.");
                if (type == typeof(List<string>))
                {
                    lists.Add(key);
                }
                else
                {
                    Assert.True(type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>), $"{key}: lists must be List<string> so the loader replaces them whole.");
                }
            }
        }

        Assert.Equal(ListSamples.Keys.Order(), lists.Order());
        foreach (var (key, sample) in ListSamples)
        {
            var settings = Load(null, $"{key}:0={sample}");
            var section = key.Contains(':', StringComparison.Ordinal) ? typeof(DetachSettings).GetProperty(key[..key.IndexOf(':', StringComparison.Ordinal)])! : typeof(DetachSettings).GetProperty(nameof(DetachSettings.Root))!;
            var options = section.GetValue(settings)!;
            var list = (List<string>)options.GetType().GetProperty(key[(key.LastIndexOf(':') + 1)..])!.GetValue(options)!;
            Assert.Equal([sample], list);
        }
    }
}

/// <summary>The same through the environment and through `detach config show` as an admin runs it.</summary>
[Collection(nameof(EnvironmentVariableTests))]
public class CollectionEnvironmentTests
{
    [Fact]
    public void A_list_in_the_environment_replaces_the_default()
    {
        Environment.SetEnvironmentVariable("DETACH__Smtp__AuthorizedXforwardNetworks__0", "127.0.0.1/32");
        try
        {
            var settings = DetachSettings.Load(DetachConfiguration.Build(null, []));
            Assert.Equal(["127.0.0.1/32"], settings.Smtp.AuthorizedXforwardNetworks);
        }
        finally
        {
            Environment.SetEnvironmentVariable("DETACH__Smtp__AuthorizedXforwardNetworks__0", null);
        }
    }

    [Theory]
    [InlineData("DETACH__Smtp__AuthorizedXforwardNetworks__0", "127.0.0.1/32", "[\"127.0.0.1/32\"]")]
    [InlineData("DETACH__Smtp__AuthorizedXforwardNetworks", "", "[]")]
    public async Task Config_show_prints_the_list_the_environment_gave(string variable, string value, string expected)
    {
        var result = await Detach.Gateway.Tests.Cli.DetachProcess.RunAsync(Path.GetTempPath(), new Dictionary<string, string> { [variable] = value }, null, "config", "show");
        Assert.True(result.Succeeded, result.StandardError);
        using var json = System.Text.Json.JsonDocument.Parse(result.StandardOutput);
        Assert.Equal(expected, json.RootElement.GetProperty("Smtp").GetProperty("AuthorizedXforwardNetworks").GetRawText().Replace(" ", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal));
    }
}
