using System.Text.Json;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;

namespace Detach.Gateway.Tests.Configuration;

public class ConfigShowTests
{
    [Fact]
    public void Shows_every_section_with_the_effective_store()
    {
        var settings = DetachSettings.Load(DetachConfiguration.Build(null, ["Vault:IpfsApiUrl=http://127.0.0.1:5001"]));
        using var json = JsonDocument.Parse(ConfigCommands.Render(settings));
        var root = json.RootElement;
        foreach (var section in new[] { "Smtp", "Policy", "Vault", "Index", "Gateway" })
        {
            Assert.Equal(JsonValueKind.Object, root.GetProperty(section).ValueKind);
        }

        Assert.Equal("Ipfs", root.GetProperty("Vault").GetProperty("Store").GetString());
        var smtp = root.GetProperty("Smtp");
        Assert.Equal(20, smtp.GetProperty("MaxConnectionsPerClient").GetInt32());
        Assert.Equal(300, smtp.GetProperty("DataTimeoutSeconds").GetInt32());
        Assert.Equal(500, smtp.GetProperty("MinDataRateBytesPerSecond").GetInt32());
        Assert.Equal(2, smtp.GetProperty("AuthorizedXforwardNetworks").GetArrayLength());
        Assert.Equal("./data", root.GetProperty("DataPath").GetString());
    }

    [Fact]
    public void Masks_the_password_of_the_index_connection_string()
    {
        var settings = DetachSettings.Load(DetachConfiguration.Build(null,
            ["Index:Kind=postgres", "Index:ConnectionString=Host=db;Username=detach;Password=s3cr3t-value;Database=detach"]));
        var text = ConfigCommands.Render(settings);
        Assert.DoesNotContain("s3cr3t-value", text, StringComparison.Ordinal);
        Assert.Contains("Password=***", text, StringComparison.Ordinal);
        Assert.Contains("Host=db", text, StringComparison.Ordinal);
    }
}
