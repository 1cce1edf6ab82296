/*
 * What glibc's getpwnam(3) and getgrnam(3) return for each name given, one line each, so a
 * differential test can compare the accounts probe with glibc's own parsing of passwd and group.
 * Run in a chroot of the test root: glibc (2.34 and later has nss_files built in) then reads the
 * root's /etc/passwd and /etc/group through its nsswitch.conf.
 *
 *   nss-lookup passwd NAME...   ->  "found" uid gid name passwd gecos dir shell  | "missing"
 *   nss-lookup group NAME...    ->  "found" gid name passwd member...            | "missing"
 *
 * Fields are separated by tabs; a tab, newline, backslash or other control byte inside a field is
 * written as \xHH, so every field reads back exactly.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

static void field(const char *s) {
  putchar('\t');
  if (s == NULL) {
    fputs("\\null", stdout);
    return;
  }
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x20 || *p == 0x7f || *p == '\\')
      printf("\\x%02x", *p);
    else
      putchar(*p);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int passwd = strcmp(argv[1], "passwd") == 0;
  for (int i = 2; i < argc; i++) {
    if (passwd) {
      struct passwd *pw = getpwnam(argv[i]);
      if (pw == NULL) {
        puts("missing");
        continue;
      }
      printf("found\t%u\t%u", (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
      field(pw->pw_name);
      field(pw->pw_passwd);
      field(pw->pw_gecos);
      field(pw->pw_dir);
      field(pw->pw_shell);
    } else {
      struct group *gr = getgrnam(argv[i]);
      if (gr == NULL) {
        puts("missing");
        continue;
      }
      printf("found\t%u", (unsigned)gr->gr_gid);
      field(gr->gr_name);
      field(gr->gr_passwd);
      for (char **m = gr->gr_mem; m != NULL && *m != NULL; m++) field(*m);
    }
    putchar('\n');
  }
  return 0;
}
