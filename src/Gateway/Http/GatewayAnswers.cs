using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Net.Http.Headers;

namespace Detach.Gateway.Http;

/// <summary>
/// Writes a <see cref="GatewayProblem"/> in the form the client reads: a small HTML page for browsers,
/// JSON for the download page's script, plain text for curl and everything else.
/// </summary>
public static class GatewayAnswers
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static Task WriteProblemAsync(HttpContext context, GatewayProblem problem)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(problem);
        var response = context.Response;
        if (response.HasStarted)
        {
            // Too late for a status: the only honest signal left is a broken connection.
            context.Abort();
            return Task.CompletedTask;
        }

        response.Clear();
        response.StatusCode = problem.Status;
        SecurityHeaders.Apply(response);
        if (problem.RetryAfter is { } retry)
        {
            response.Headers.RetryAfter = ((long)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        var language = context.RequestServices.GetRequiredService<PageLanguages>().Negotiate(context.Request);
        PageLanguages.Label(response, language);
        var (title, detail) = (problem.Title(language), problem.Detail(language));
        var (contentType, body) = Wants(context.Request) switch
        {
            AnswerForm.Json => ("application/json; charset=utf-8", JsonSerializer.SerializeToUtf8Bytes(
                new ProblemBody(problem.Code, title, detail, problem.Since, problem.SenderDomain), Json)),
            AnswerForm.Html => ("text/html; charset=utf-8", Encoding.UTF8.GetBytes(Html(problem.Status, title, detail, language.Tag, context.Request.PathBase))),
            _ => ("text/plain; charset=utf-8", Encoding.UTF8.GetBytes(title + "\n" + detail + "\n")),
        };
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    public static string Html(int status, string title, string detail, string language, PathString pathBase)
    {
        return $"""
            <!doctype html>
            <html lang="{HtmlText.Escape(language)}">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="robots" content="noindex, nofollow">
            <title>{HtmlText.Escape(title)}</title>
            <link rel="icon" href="{HtmlText.Escape(pathBase.Add(DownloadAssets.IconPath).ToUriComponent())}" type="image/svg+xml">
            <link rel="stylesheet" href="{HtmlText.Escape(pathBase.Add(DownloadAssets.StylePath).ToUriComponent())}">
            </head>
            <body data-state="problem">
            <main>
            <h1>{HtmlText.Escape(title)}</h1>
            <p>{HtmlText.Escape(detail)}</p>
            <p class="muted">HTTP {status.ToString(CultureInfo.InvariantCulture)}</p>
            </main>
            </body>
            </html>

            """;
    }

    private enum AnswerForm
    {
        Text,
        Html,
        Json,
    }

    private static AnswerForm Wants(HttpRequest request)
    {
        var accept = request.Headers.Accept;
        if (accept.Count == 0 || !MediaTypeHeaderValue.TryParseList(accept, out var types))
        {
            return AnswerForm.Text;
        }

        // The first explicit match decides; a bare */* (curl's default) gets plain text.
        foreach (var type in types.OrderByDescending(t => t.Quality ?? 1))
        {
            if (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            {
                return AnswerForm.Json;
            }

            if (type.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase)
                || type.MediaType.Equals("application/xhtml+xml", StringComparison.OrdinalIgnoreCase))
            {
                return AnswerForm.Html;
            }
        }

        return AnswerForm.Text;
    }

    private sealed record ProblemBody(string Error, string Title, string Detail, DateTimeOffset? Since, string? SenderDomain);
}
