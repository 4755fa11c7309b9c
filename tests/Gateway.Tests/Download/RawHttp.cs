using System.Net.Sockets;
using System.Text;

namespace Detach.Gateway.Tests.Download;

/// <summary>
/// Sends one request exactly as written (no client library normalises or rejects it) and returns the answer's
/// status line: how a hand-made or mangled request, such as a raw '#' in the request line, reaches the server.
/// </summary>
public static class RawHttp
{
    public static async Task<string> SendAsync(string baseUrl, string requestLine, params string[] headers)
    {
        var uri = new Uri(baseUrl);
        using var client = new TcpClient();
        await client.ConnectAsync(uri.Host, uri.Port, TestContext.Current.CancellationToken);
        await using var stream = client.GetStream();
        var request = new StringBuilder(requestLine).Append("\r\nHost: ").Append(uri.Authority).Append("\r\nConnection: close\r\n");
        foreach (var header in headers)
        {
            request.Append(header).Append("\r\n");
        }

        await stream.WriteAsync(Encoding.Latin1.GetBytes(request.Append("\r\n").ToString()), TestContext.Current.CancellationToken);
        using var reader = new StreamReader(stream, Encoding.Latin1);
        var answer = await reader.ReadToEndAsync(TestContext.Current.CancellationToken);
        var end = answer.IndexOf('\r', StringComparison.Ordinal);
        return end < 0 ? answer : answer[..end];
    }
}
