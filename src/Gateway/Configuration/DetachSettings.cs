using Detach.Gateway.Milter;
using Detach.Gateway.Notify;
using Detach.Gateway.Scanning;
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
    public MilterOptions Milter { get; init; } = new();
    public NotifyOptions Notify { get; init; } = new();
    public ScanOptions Scan { get; init; } = new();

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
            Milter = Bind<MilterOptions>(configuration, "Milter", errors),
            Notify = Bind<NotifyOptions>(configuration, "Notify", errors),
            Scan = Bind<ScanOptions>(configuration, "Scan", errors),
        };
        if (errors.Count == 0)
        {
            errors.AddRange(settings.Root.Validate());
            errors.AddRange(settings.Smtp.Validate());
            errors.AddRange(settings.Policy.Validate().Select(m => m.StartsWith("Policy:", StringComparison.Ordinal) ? m : "Policy:" + m));
            errors.AddRange(settings.Vault.Validate());
            errors.AddRange(settings.Index.Validate());
            errors.AddRange(settings.Gateway.Validate());
            errors.AddRange(settings.Milter.Validate());
            errors.AddRange(settings.Notify.Validate());
            errors.AddRange(settings.Scan.Validate());
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
            // The binder's own message names the full key and the value it could not convert; the inner one names neither.
            errors.Add(e.Message);
        }

        // Lists are read apart: a configured list replaces its default and earlier sources' lists, it never adds to them.
        ListSetting.Apply(value, configuration, section, errors);
        MapSetting.Check(value, configuration, section, errors);
        return value;
    }
}
