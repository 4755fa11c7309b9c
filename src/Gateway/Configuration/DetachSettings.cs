using Detach.Mime;
using Detach.Vault.Index;
using Microsoft.Extensions.Configuration;

namespace Detach.Gateway.Configuration;

/// <summary>Every section of the configuration, bound and validated together, so start-up names all bad keys at once.</summary>
public sealed class DetachSettings
{
    public required DetachOptions Root { get; init; }
    public required SmtpFrontOptions Smtp { get; init; }
    public required DetachPolicyOptions Policy { get; init; }
    public required VaultOptions Vault { get; init; }
    public required IndexOptions Index { get; init; }
    public required GatewayOptions Gateway { get; init; }

    public static DetachSettings Load(IConfiguration configuration)
    {
        var errors = new List<string>();
        var settings = new DetachSettings
        {
            Root = Bind<DetachOptions>(configuration, null, errors),
            Smtp = Bind<SmtpFrontOptions>(configuration, "Smtp", errors),
            Policy = Bind<DetachPolicyOptions>(configuration, "Policy", errors),
            Vault = Bind<VaultOptions>(configuration, "Vault", errors),
            Index = Bind<IndexOptions>(configuration, "Index", errors),
            Gateway = Bind<GatewayOptions>(configuration, "Gateway", errors),
        };
        if (errors.Count == 0)
        {
            errors.AddRange(settings.Root.Validate());
            errors.AddRange(settings.Smtp.Validate());
            errors.AddRange(settings.Policy.Validate().Select(m => m.StartsWith("Policy:", StringComparison.Ordinal) ? m : "Policy:" + m));
            errors.AddRange(settings.Vault.Validate());
            errors.AddRange(settings.Index.Validate());
            errors.AddRange(settings.Gateway.Validate());
        }

        if (errors.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, errors.Select(e => "  - " + e)));
        }

        return settings;
    }

    private static T Bind<T>(IConfiguration configuration, string? section, List<string> errors)
        where T : new()
    {
        var value = new T();
        var source = section is null ? configuration : configuration.GetSection(section);
        try
        {
            source.Bind(value);
        }
        catch (InvalidOperationException e)
        {
            // The binder names the key and the value it could not convert; keep that, drop the type noise.
            errors.Add((section is null ? "" : section + ": ") + (e.InnerException?.Message ?? e.Message));
        }

        // Lists are read apart: a configured list replaces its default and earlier sources' lists, it never adds to them.
        ListSetting.Apply(value, configuration, section, errors);
        return value;
    }
}
