using System.Collections;
using System.Globalization;
using System.Resources;
using Detach.Mime;
using Microsoft.Net.Http.Headers;

namespace Detach.Gateway.Http;

/// <summary>
/// The languages the download page and the gateway's answers speak: one resource file each under Http/Resources
/// (PageText.resx is English, PageText.fr.resx French); a third language is one more file, found at start by its
/// satellite assembly. Each request gets the best of them for its Accept-Language, English when none fits.
/// </summary>
public sealed class PageLanguages
{
    public const string DefaultTag = "en";

    private static readonly ResourceManager Resources = new("Detach.Gateway.Http.Resources.PageText", typeof(PageLanguages).Assembly);

    private readonly Dictionary<string, PageLanguage> _languages = new(StringComparer.Ordinal);

    public PageLanguages()
    {
        Default = new PageLanguage(DefaultTag, CultureInfo.InvariantCulture, Resources);
        _languages[DefaultTag] = Default;
        var folder = AppContext.BaseDirectory;
        var satellite = typeof(PageLanguages).Assembly.GetName().Name + ".resources.dll";
        foreach (var directory in Directory.EnumerateDirectories(folder).Where(d => File.Exists(Path.Combine(d, satellite))))
        {
            var tag = Path.GetFileName(directory).ToLowerInvariant();
            var culture = CultureInfo.GetCultureInfo(tag);
            if (Resources.GetResourceSet(culture, createIfNotExists: true, tryParents: false) is not null)
            {
                _languages[tag] = new PageLanguage(tag, culture, Resources);
            }
        }
    }

    public PageLanguage Default { get; }

    public IEnumerable<string> Tags => _languages.Keys.Order(StringComparer.Ordinal);

    public PageLanguage Get(string tag) => _languages.TryGetValue(tag, out var language) ? language : Default;

    /// <summary>The first language, by quality, of the request's Accept-Language that is spoken here (fr-CA finds fr).</summary>
    public PageLanguage Negotiate(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!StringWithQualityHeaderValue.TryParseList(request.Headers.AcceptLanguage, out var ranges))
        {
            return Default;
        }

        foreach (var range in ranges.Where(r => r.Quality is not 0).OrderByDescending(r => r.Quality ?? 1))
        {
            var primary = range.Value.Value ?? "";
            var dash = primary.IndexOf('-', StringComparison.Ordinal);
            var tag = (dash < 0 ? primary : primary[..dash]).ToLowerInvariant();
            if (tag == "*")
            {
                return Default;
            }

            if (_languages.TryGetValue(tag, out var language))
            {
                return language;
            }
        }

        return Default;
    }

    /// <summary>Marks an answer as chosen by Accept-Language, in <paramref name="language"/>.</summary>
    public static void Label(HttpResponse response, PageLanguage language)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(language);
        response.Headers.ContentLanguage = language.Tag;
        response.Headers.Vary = HeaderNames.AcceptLanguage;
    }
}

/// <summary>One language's texts; a text missing from its file falls back to English.</summary>
public sealed class PageLanguage
{
    private readonly CultureInfo _culture;
    private readonly ResourceManager _resources;

    internal PageLanguage(string tag, CultureInfo culture, ResourceManager resources)
    {
        Tag = tag;
        this._culture = culture;
        this._resources = resources;
        var singular = Text("Size.SingularCounts").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(n => long.Parse(n, NumberStyles.None, CultureInfo.InvariantCulture)).ToHashSet();
        SizeWords = new SizeWords(Text("Size.DecimalMark"), Text("Size.Byte"), Text("Size.Bytes"), singular,
            Text("Size.Kilobytes"), Text("Size.Megabytes"), Text("Size.Gigabytes"), Text("Size.Terabytes"));
    }

    public string Tag { get; }

    public SizeWords SizeWords { get; }

    public string Text(string name) =>
        _resources.GetString(name, _culture) ?? throw new InvalidOperationException($"Http/Resources/PageText.resx has no text '{name}'.");

    public string Text(string name, params object?[] values) => string.Format(CultureInfo.InvariantCulture, Text(name), values);

    /// <summary>Every text whose name starts with <paramref name="prefix"/>, by the rest of its name (English for any this language lacks).</summary>
    public SortedDictionary<string, string> TextsStartingWith(string prefix)
    {
        var texts = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in _resources.GetResourceSet(CultureInfo.InvariantCulture, createIfNotExists: true, tryParents: false)!)
        {
            if (entry.Key is string name && name.StartsWith(prefix, StringComparison.Ordinal))
            {
                texts[name[prefix.Length..]] = Text(name);
            }
        }

        return texts;
    }
}
