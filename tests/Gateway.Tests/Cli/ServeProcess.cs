using System.Globalization;

namespace Detach.Gateway.Tests.Cli;

/// <summary>
/// `detach serve` as its own process, the way an operator runs it: its own data folder, ports and PublicUrl, the
/// embedded store. Files are stored through `detach filter` on the same data folder, which is what Postfix's pipe
/// service does; the links come from the rewritten message.
/// </summary>
public sealed class ServeProcess : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private ServeProcess(ChildProcess process, DirectoryInfo folder, int httpPort)
    {
        this._process = process;
        Folder = folder;
        BaseUrl = $"http://127.0.0.1:{httpPort.ToString(CultureInfo.InvariantCulture)}";
    }

    public DirectoryInfo Folder { get; }

    public string DataPath => Path.Combine(Folder.FullName, "data");

    public string BaseUrl { get; }

    public string Output => _process.StandardOutput + _process.StandardError;

    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["DETACH__DataPath"] = DataPath,
        ["DETACH__PublicUrl"] = BaseUrl,
    };

    public static async Task<ServeProcess> StartAsync(params string[] settings)
    {
        var folder = Directory.CreateTempSubdirectory("detach-serve-");
        var (http, smtp) = (FreePort.Next(), FreePort.Next());
        var args = new List<string> { "serve", "--set", $"Gateway:Listen=http://127.0.0.1:{http}", "--set", $"Smtp:Listen=127.0.0.1:{smtp}" };
        foreach (var setting in settings)
        {
            args.Add("--set");
            args.Add(setting);
        }

        var start = DetachProcess.StartInfo(folder.FullName, new Dictionary<string, string>
        {
            ["DETACH__DataPath"] = Path.Combine(folder.FullName, "data"),
            ["DETACH__PublicUrl"] = $"http://127.0.0.1:{http}",
        }, args);
        var serve = new ServeProcess(ChildProcess.Start(start), folder, http);
        using var client = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (serve._process.HasExited || DateTime.UtcNow > deadline)
            {
                var log = serve.Output;
                await serve.DisposeAsync();
                throw new InvalidOperationException($"detach serve did not come up:\n{log}");
            }

            try
            {
                if ((await client.GetAsync(new Uri(serve.BaseUrl + "/healthz"), TestContext.Current.CancellationToken)).IsSuccessStatusCode)
                {
                    return serve;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Stores <paramref name="attachment"/> as `detach filter` does and returns its link.</summary>
    public async Task<string> StoreAsync(byte[] attachment, string fileName = "report.pdf")
    {
        var result = await DetachProcess.RunAsync(Folder.FullName, Environment, DataFolder.MessageWith(attachment, fileName, $"<{Guid.NewGuid():N}@example.com>"), "filter");
        Assert.True(result.Succeeded, result.StandardError);
        return Assert.Single(DataFolder.Links(result.StandardOutput));
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        Folder.Delete(recursive: true);
    }
}
