-- An organization that adds a member by an email another account already
-- signs in with gets an account of its own for that member, 'unclaimed': it
-- never signs in (the email's owner signs in to their own account), and the
-- organization cannot tell it from a new account, so adding a member reveals
-- nothing about accounts outside the organization. The email stays unique
-- among accounts that can sign in.
alter table users drop constraint users_status_check;
alter table users add constraint users_status_check check (status in ('active', 'disabled', 'unclaimed'));
alter table users drop constraint users_email_key;
create unique index users_email_key on users (email) where status <> 'unclaimed';
