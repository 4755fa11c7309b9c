using System.Net.Http.Headers;
using Detach.Gateway.Http;

namespace Detach.Gateway.Fetch;

/// <summary>
/// The name a download is saved under when the user gives none: the one the server offers in
/// Content-Disposition, trusted for nothing. Only its last path segment is kept, then the gateway's own rules
/// for saved names apply (<see cref="FileNameText.ForSaving"/>: no control or bidirectional characters, no
/// separators, no leading dot, bounded length), so a name can neither leave the folder nor hide in it.
/// </summary>
public static class SavedFileName
{
    public static string From(ContentDispositionHeaderValue? disposition)
    {
        var offered = disposition?.FileNameStar ?? disposition?.FileName?.Trim('"');
        if (offered is not null)
        {
            offered = offered[(offered.LastIndexOfAny(['/', '\\']) + 1)..];
        }

        return FileNameText.ForSaving(offered);
    }
}
