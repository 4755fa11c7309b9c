using Microsoft.Extensions.Configuration;

namespace Detach.Gateway.Configuration;

/// <summary>
/// Builds the one configuration every command reads: appsettings.json (beside the program, then the
/// working folder, then an explicit --config-file), DETACH__ environment variables, then --set KEY=VALUE
/// overrides from the command line, later sources winning.
/// </summary>
public static class DetachConfiguration
{
    public const string EnvironmentPrefix = "DETACH__";

    public static IConfigurationBuilder AddDetachSources(
        this IConfigurationBuilder builder, string? configFile, IEnumerable<string> overrides)
    {
        builder.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        builder.AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true, reloadOnChange: false);
        if (!string.IsNullOrEmpty(configFile))
        {
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }

        builder.AddEnvironmentVariables(EnvironmentPrefix);
        builder.AddInMemoryCollection(ParseOverrides(overrides));
        return builder;
    }

    public static IConfiguration Build(string? configFile, IEnumerable<string> overrides) =>
        new ConfigurationBuilder().AddDetachSources(configFile, overrides).Build();

    /// <summary>KEY=VALUE pairs; a key given twice takes its last value, as on any command line.</summary>
    internal static IEnumerable<KeyValuePair<string, string?>> ParseOverrides(IEnumerable<string> overrides)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in overrides)
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new ConfigurationException($"--set takes KEY=VALUE (for example Smtp:Listen=127.0.0.1:10025), not '{item}'.");
            }

            // Accept both Section:Key and the environment form Section__Key.
            var key = item[..equals].Trim().Replace("__", ":", StringComparison.Ordinal);
            values[key] = item[(equals + 1)..];
        }

        return values;
    }
}

public sealed class ConfigurationException(string message) : Exception(message);
