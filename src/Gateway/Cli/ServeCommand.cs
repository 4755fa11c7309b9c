using System.CommandLine;
using Detach.Gateway.Hosting;

namespace Detach.Gateway.Cli;

/// <summary>`detach serve`: the SMTP front, the download gateway and the vault's maintenance, in one process.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var command = new Command("serve", "Run the SMTP proxy and the download gateway (the default command).");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = DetachCommandLine.LoadSettings(parse);
            await using var app = await DetachHost.BuildAsync(settings, cancellationToken).ConfigureAwait(false);
            await ((Microsoft.Extensions.Hosting.IHost)app).RunAsync(cancellationToken).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
