using Detach.Gateway.Configuration;

namespace Detach.Gateway.Tests.Download;

/// <summary>The gateway's trust and limit settings: bound from every route, validated with messages naming the key.</summary>
public class GatewaySettingsTests
{
    [Theory]
    [InlineData("Gateway:TrustedProxies:0=10.0.0.0/99", "Gateway:TrustedProxies has '10.0.0.0/99', which is neither a network")]
    [InlineData("Gateway:TrustedProxies:0=proxy.example.com", "Gateway:TrustedProxies has 'proxy.example.com'")]
    [InlineData("Gateway:TrustedProxies:0=0.0.0.0/0", "Gateway:TrustedProxies has '0.0.0.0/0', every address")]
    [InlineData("Gateway:TrustedProxies:0=::/0", "Gateway:TrustedProxies has '::/0', every address")]
    [InlineData("Gateway:KeyAttemptsPerClientPerMinute=10", "Gateway:KeyAttemptsPerClientPerMinute must be at least Gateway:KeyAttemptsPerMinute")]
    public void ABadValueIsRefusedNamingItsKey(string setting, string expected)
    {
        var error = Assert.Throws<ConfigurationException>(() => DetachSettings.Load(DetachConfiguration.Build(null, [setting])));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoProxyIsTrustedUnlessConfiguredAndAConfiguredListIsExactlyWhatIsTrusted()
    {
        Assert.Empty(DetachSettings.Load(DetachConfiguration.Build(null, [])).Gateway.TrustedProxies);

        var settings = DetachSettings.Load(DetachConfiguration.Build(null, ["Gateway:TrustedProxies:0=10.1.0.0/16", "Gateway:TrustedProxies:1=192.0.2.7"]));
        Assert.Equal(["10.1.0.0/16", "192.0.2.7"], settings.Gateway.TrustedProxies);
        Assert.True(GatewayOptions.TryParseNetwork("192.0.2.7", out var single));
        Assert.Equal(32, single.PrefixLength);
    }

    [Fact]
    public void TheKeyLimitsDefaultToThirtyPerLinkAndAHundredPerClient()
    {
        var gateway = DetachSettings.Load(DetachConfiguration.Build(null, [])).Gateway;
        Assert.Equal(30, gateway.KeyAttemptsPerMinute);
        Assert.Equal(100, gateway.KeyAttemptsPerClientPerMinute);
    }
}
