using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Detach.Gateway.Configuration;

namespace Detach.Gateway.Cli;

/// <summary>`detach config show`: the effective settings after every source, secrets masked.</summary>
public static partial class ConfigCommands
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static Command Create()
    {
        var show = new Command("show", "Print the effective configuration (defaults, appsettings.json, DETACH__ variables, --set), secrets masked.");
        show.SetAction(parse =>
        {
            var settings = DetachCommandLine.LoadSettings(parse);
            Console.Out.WriteLine(Render(settings));
            return ExitCodes.Ok;
        });

        var config = new Command("config", "Inspect the configuration.");
        config.Subcommands.Add(show);
        return config;
    }

    public static string Render(DetachSettings settings)
    {
        var root = JsonSerializer.SerializeToNode(settings.Root, Json)!.AsObject();
        root.Remove(nameof(DetachOptions.FullDataPath));
        root["Smtp"] = JsonSerializer.SerializeToNode(settings.Smtp, Json);
        root["Policy"] = JsonSerializer.SerializeToNode(settings.Policy, Json);
        var vault = JsonSerializer.SerializeToNode(settings.Vault, Json)!.AsObject();
        vault.Remove(nameof(VaultOptions.EffectiveStore));
        vault[nameof(VaultOptions.Store)] = settings.Vault.EffectiveStore.ToString();
        root["Vault"] = vault;
        root["Index"] = JsonSerializer.SerializeToNode(settings.Index, Json);
        root["Gateway"] = JsonSerializer.SerializeToNode(settings.Gateway, Json);
        root["Milter"] = JsonSerializer.SerializeToNode(settings.Milter, Json);
        root["Notify"] = JsonSerializer.SerializeToNode(settings.Notify, Json);
        root["Scan"] = JsonSerializer.SerializeToNode(settings.Scan, Json);
        Mask(root);
        return root.ToJsonString(Json);
    }

    /// <summary>Masks passwords inside connection strings and any setting whose name says it is a secret.</summary>
    private static void Mask(JsonNode? node)
    {
        if (node is JsonObject obj)
        {
            foreach (var (name, value) in obj.ToList())
            {
                if (value is JsonValue leaf && leaf.TryGetValue<string>(out var text))
                {
                    if (SecretName().IsMatch(name))
                    {
                        obj[name] = "***";
                    }
                    else if (name.Contains("ConnectionString", StringComparison.OrdinalIgnoreCase))
                    {
                        obj[name] = PasswordInConnectionString().Replace(text, "$1***");
                    }
                }
                else
                {
                    Mask(value);
                }
            }
        }
    }

    [GeneratedRegex("(password|secret|token|apikey)$", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"((?:password|pwd)\s*=\s*)[^;]*", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordInConnectionString();
}
