using System.CommandLine;
using Detach.Gateway.Configuration;

namespace Detach.Gateway.Cli;

/// <summary>The `detach` command tree. Every command reads the same configuration (see DetachConfiguration).</summary>
public static class DetachCommandLine
{
    public static readonly Option<string?> ConfigFile = new("--config-file")
    {
        Description = "An appsettings.json to read after the default ones.",
        Recursive = true,
    };

    public static readonly Option<string[]> Set = new("--set")
    {
        Description = "Override one setting, KEY=VALUE (e.g. --set Smtp:Listen=127.0.0.1:2525); repeatable.",
        Recursive = true,
        DefaultValueFactory = _ => [],
    };

    public static RootCommand Build()
    {
        var root = new RootCommand("Detach: takes attachments out of mail, stores them encrypted once, and puts a link in their place.");
        root.Options.Add(ConfigFile);
        root.Options.Add(Set);
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(FilterCommand.Create());
        root.Subcommands.Add(FetchCommand.Create());
        root.Subcommands.Add(VaultCommands.Create());
        root.Subcommands.Add(ConfigCommands.Create());
        root.Subcommands.Add(CheckCommand.Create());
        return root;
    }

    /// <summary>Loads and validates the settings for a command; a bad setting ends the command with EX_CONFIG.</summary>
    public static DetachSettings LoadSettings(ParseResult parse) =>
        DetachSettings.Load(DetachConfiguration.Build(parse.GetValue(ConfigFile), parse.GetValue(Set) ?? []));
}

/// <summary>Exit codes from sysexits.h, which MTAs (Postfix pipe, sendmail filters) understand.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Usage = 64;
    public const int DataError = 65;
    public const int NoInput = 66;
    public const int NoHost = 68;
    public const int Unavailable = 69;
    public const int Software = 70;
    public const int CannotCreate = 73;
    public const int IoError = 74;
    public const int TempFail = 75;
    public const int Protocol = 76;

    /// <summary>EX_NOPERM: refused by policy (Postfix's pipe bounces it as 5.7.0).</summary>
    public const int NoPermission = 77;
    public const int Config = 78;

    /// <summary>Ended by Ctrl+C (128 + SIGINT), as shells report it.</summary>
    public const int Interrupted = 130;
}
