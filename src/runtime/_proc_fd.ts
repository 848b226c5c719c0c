/** Reading where an open file is from its /proc/self/fd link (Linux). */

/** The path in a /proc/self/fd link, or `null` if the file has no name left (or the link is no path: a pipe, a socket). */
export function pathInFdLink(link: string): string | null {
  return link.startsWith("/") && !link.endsWith(" (deleted)") ? link : null;
}
