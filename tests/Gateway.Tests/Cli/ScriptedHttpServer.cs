using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Detach.Gateway.Tests.Cli;

/// <summary>
/// An HTTP server that answers whatever the test scripts: a hostile or broken gateway, a proxy's error page, a
/// redirect. One request per connection; the answer is written as given, byte for byte.
/// </summary>
/// <param name="answer">From the request head to the whole response (status line, headers, body).</param>
public sealed class ScriptedHttpServer(Func<string, string> answer) : LoopbackServer
{
    public string BaseUrl => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>A complete response with a body and the headers every answer needs.</summary>
    public static string Response(string status, string body = "", params string[] headers) =>
        $"HTTP/1.1 {status}\r\n{string.Concat(headers.Select(h => h + "\r\n"))}Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";

    protected override async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var head = new StringBuilder();
                var buffer = new byte[4096];
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await stream.ReadAsync(buffer, Stopping);
                    if (read == 0)
                    {
                        return;
                    }

                    head.Append(Encoding.Latin1.GetString(buffer, 0, read));
                }

                Requests.Enqueue(head.ToString());
                await stream.WriteAsync(Encoding.UTF8.GetBytes(answer(head.ToString())), Stopping);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
            }
        }
    }
}
