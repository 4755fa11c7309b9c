using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Detach.Gateway.Http;

namespace Detach.Gateway.Tests.Download;

/// <summary>The page and the gateway's answers in the reader's language, chosen by Accept-Language.</summary>
public class PageLanguageTests
{
    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string url, string? acceptLanguage)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (acceptLanguage is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept-Language", acceptLanguage);
        }

        return await client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData(null, "en")]
    [InlineData("fr", "fr")]
    [InlineData("fr-CA,fr;q=0.9,en;q=0.8", "fr")]
    [InlineData("de-DE,de;q=0.9,fr;q=0.5,en;q=0.3", "fr")]
    [InlineData("de, en;q=0.5, fr;q=0.1", "en")]
    [InlineData("fr;q=0, de", "en")]
    [InlineData("*", "en")]
    [InlineData("not a language header;;;", "en")]
    public async Task EachLanguageHasOnePageTheSameForEveryCid(string? acceptLanguage, string expected)
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(1000), "page.bin");
        using var client = new HttpClient();

        using var known = await GetAsync(client, host.PageUrl(file), acceptLanguage);
        using var unknown = await GetAsync(client, $"{host.BaseUrl}/d/bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", acceptLanguage);
        using var plain = await GetAsync(client, $"{host.BaseUrl}/d/{file.Cid}", expected);

        var page = await known.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        Assert.Equal(page, await unknown.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(page, await plain.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(expected, Assert.Single(known.Content.Headers.ContentLanguage));
        Assert.Contains("Accept-Language", known.Headers.Vary);
        var html = System.Text.Encoding.UTF8.GetString(page);
        Assert.Contains($"<html lang=\"{expected}\">", html, StringComparison.Ordinal);
        Assert.Contains(expected == "fr" ? "Télécharger une pièce jointe" : "Download an attachment", html, StringComparison.Ordinal);
        Assert.DoesNotContain(file.Cid, html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheEnglishAndFrenchPagesHoldTheSameTextsByName()
    {
        await using var host = await GatewayTestHost.StartAsync();
        using var client = new HttpClient();
        using var english = await GetAsync(client, $"{host.BaseUrl}/d/x", "en");
        using var french = await GetAsync(client, $"{host.BaseUrl}/d/x", "fr");

        static JsonElement ScriptTexts(string html)
        {
            const string Start = "<script id=\"page-text\" type=\"application/json\">";
            var at = html.IndexOf(Start, StringComparison.Ordinal) + Start.Length;
            return JsonDocument.Parse(html[at..html.IndexOf("</script>", at, StringComparison.Ordinal)]).RootElement;
        }

        var en = ScriptTexts(await english.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var fr = ScriptTexts(await french.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(en.EnumerateObject().Select(p => p.Name), fr.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Ce lien est incomplet", fr.GetProperty("IncompleteTitle").GetString());
        Assert.Equal("This link is incomplete", en.GetProperty("IncompleteTitle").GetString());
    }

    [Fact]
    public async Task DetailsAndRefusalsComeInTheReadersLanguageWithSizesWrittenOneWay()
    {
        await using var host = await GatewayTestHost.StartAsync();
        var file = await host.StoreAsync(TestFiles.RandomBytes(9092), "rapport.pdf", senderDomain: "exemple.fr");
        var gone = await host.StoreAsync(TestFiles.RandomBytes(10), "vieux.txt", expiresAt: new DateTimeOffset(2026, 1, 2, 3, 4, 0, TimeSpan.Zero), senderDomain: "exemple.fr");
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;

        async Task<JsonElement> MetaAsync(StoredFile target, string key, string language)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, host.PageUrl(target) + "/meta");
            request.Headers.Add(LinkKeyHeader.Name, key);
            request.Headers.Accept.ParseAdd("application/json");
            request.Headers.AcceptLanguage.ParseAdd(language);
            using var response = await client.SendAsync(request, ct);
            Assert.Contains("Accept-Language", response.Headers.Vary);
            return await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        }

        Assert.Equal("9,1 ko", (await MetaAsync(file, file.LinkKey, "fr-FR")).GetProperty("sizeText").GetString());
        Assert.Equal("9.1 kB", (await MetaAsync(file, file.LinkKey, "en-GB")).GetProperty("sizeText").GetString());
        var refused = await MetaAsync(file, Detach.Crypto.LinkKeyText.Encode(new byte[32]), "fr");
        Assert.Equal("Ce lien n’ouvre aucun fichier", refused.GetProperty("title").GetString());
        var expired = await MetaAsync(gone, gone.LinkKey, "fr");
        Assert.Equal("Ce fichier a expiré", expired.GetProperty("title").GetString());
        Assert.Equal("Le fichier a expiré le 2026-01-02 03:04 UTC et a été effacé ; demandez à l’expéditeur (exemple.fr) de vous le renvoyer.",
            expired.GetProperty("detail").GetString());
        Assert.Equal("This file has expired", (await MetaAsync(gone, gone.LinkKey, "en")).GetProperty("title").GetString());
    }

    [Fact]
    public void TheLanguagesAreFoundFromTheirResourceFiles()
    {
        var languages = new PageLanguages();

        Assert.Equal(["en", "fr"], languages.Tags);
        Assert.Equal("octets", languages.Get("fr").SizeWords.Bytes);
        Assert.Same(languages.Default, languages.Get("xx"));
    }
}
