using System.CommandLine;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;

try
{
    var parse = DetachCommandLine.Build().Parse(args.Length == 0 ? ["serve"] : args);
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (ConfigurationException e)
{
    await Console.Error.WriteLineAsync($"detach: configuration error:{Environment.NewLine}{e.Message}");
    return ExitCodes.Config;
}
catch (NoVaultException e)
{
    await Console.Error.WriteLineAsync($"detach: {e.Message}");
    return ExitCodes.NoInput;
}
