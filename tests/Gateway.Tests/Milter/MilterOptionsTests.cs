using Detach.Gateway.Configuration;
using Detach.Gateway.Milter;

namespace Detach.Gateway.Tests.Milter;

/// <summary>The Milter section: off by default, Postfix's spellings of the address, every bound checked at start-up.</summary>
public sealed class MilterOptionsTests
{
    private static DetachSettings Load(params string[] overrides) => DetachSettings.Load(DetachConfiguration.Build(null, overrides));

    [Fact]
    public void The_milter_is_off_by_default()
    {
        var settings = Load();
        Assert.True(string.IsNullOrEmpty(settings.Milter.Listen));
        Assert.Equal(600, settings.Milter.IdleTimeoutSeconds);
    }

    [Theory]
    [InlineData("127.0.0.1:10027")]
    [InlineData("inet:127.0.0.1:10027")]
    [InlineData("unix:/run/detach/milter.sock")]
    public void Postfix_spellings_of_the_address_are_taken(string listen)
    {
        var options = MilterService.CreateOptions(Load($"Milter:Listen={listen}").Milter);
        Assert.Single(options.EndPoints);
        Assert.Equal("i", options.MacroRequests[Detach.Milter.MilterMacroStage.EndOfMessage]);
    }

    [Theory]
    [InlineData("Milter:Listen=localhost:10027", "Milter:Listen must be inet:host:port with an IP address")]
    [InlineData("Milter:Listen=unix:milter.sock", "Milter:Listen needs an absolute socket path")]
    [InlineData("Milter:MaxConnections=0", "Milter:MaxConnections must be between 1 and 100000")]
    [InlineData("Milter:IdleTimeoutSeconds=5", "Milter:IdleTimeoutSeconds must be between 10 and 86400")]
    [InlineData("Milter:ProgressIntervalSeconds=600", "Milter:ProgressIntervalSeconds must be at least 1 and below Milter:IdleTimeoutSeconds")]
    [InlineData("Milter:MaxFrameBytes=1000", "Milter:MaxFrameBytes must be between 65536")]
    [InlineData("Milter:MaxHeaders=1", "Milter:MaxHeaders must be between 10 and 100000")]
    [InlineData("Milter:MaxMacros=1", "Milter:MaxMacros must be between 8 and 10000")]
    public void A_bad_value_stops_start_up_with_its_key_named(string setting, string message)
    {
        var error = Assert.Throws<ConfigurationException>(() => Load(setting));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
